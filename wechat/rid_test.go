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
