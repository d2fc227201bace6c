package wechat

import "testing"

func TestSplitRID(t *testing.T) {
	tests := []struct{ in, msg, rid string }{
		{"require subscribe rid: 655d9278-7c157f97-69055077", "require subscribe", "655d9278-7c157f97-69055077"},
		{"out of response count limit hint: [Kx9a] rid: 6541a7c2-1b2c3d4e-5f6a7b8c", "out of response count limit hint: [Kx9a]", "6541a7c2-1b2c3d4e-5f6a7b8c"},
		{"argument invalid! data.thing1.value invalid", "argument invalid! data.thing1.value invalid", ""},
		{"valid rid: not at the end", "valid rid: not at the end", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		msg, rid := SplitRID(tt.in)
		if msg != tt.msg || rid != tt.rid {
			t.Errorf("SplitRID(%q) = %q, %q; want %q, %q", tt.in, msg, rid, tt.msg, tt.rid)
		}
	}
}

func TestTemplateLabels(t *testing.T) {
	tpl := Template{Content: "{{first.DATA}}\n服务名称：{{thing1.DATA}}\n状态: {{phrase2.DATA}} 时间：{{time3.DATA}}\n{{remark.DATA}}"}
	got := tpl.Labels()
	want := map[string]string{"thing1": "服务名称", "phrase2": "状态", "time3": "时间"}
	if len(got) != len(want) {
		t.Fatalf("Labels() = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Labels()[%s] = %q, want %q", k, got[k], v)
		}
	}
}
