package wechat_test

import (
	"strings"
	"testing"

	"github.com/wxpush/wxpush/wechat"
)

func TestCheckTemplateData_Values(t *testing.T) {
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"thing1", strings.Repeat("字", 20), true},
		{"thing1", strings.Repeat("字", 21), false},
		{"thing12", "Order #12, 已发货!", true},
		{"number2", "12345678901234567890123456789012", true},
		{"number2", "123456789012345678901234567890123", false},
		{"number2", "3.14", true},
		{"number2", "3.", false},
		{"number2", "12a", false},
		{"letter3", strings.Repeat("a", 32), true},
		{"letter3", strings.Repeat("a", 33), false},
		{"letter3", "abc1", false},
		{"symbol4", "%$#@!", true},
		{"symbol4", "%$#@!&", false},
		{"symbol4", "a", false},
		{"character_string5", "SN-2024/0001_ab" + strings.Repeat("x", 17), true},
		{"character_string5", strings.Repeat("x", 33), false},
		{"character_string5", "订单123", false},
		{"time6", "15:01", true},
		{"time6", "2019年10月1日 15:01", true},
		{"time6", "2019-10-01 15:01:02", true},
		{"time6", "15:01~17:30", true},
		{"time6", "2019年10月1日 15:01 ~ 2019年10月1日 17:30", true},
		{"time6", "2019年10月1日", false},
		{"time6", "下午三点", false},
		{"time6", "1:00~2:00~3:00", false},
		{"date7", "2019年10月1日", true},
		{"date7", "2019-10-01 15:01", true},
		{"date7", "2019/10/01~2019/10/07", true},
		{"date7", "15:01", false},
		{"date7", "明天", false},
		{"amount8", "¥39.80", true},
		{"amount8", "39.8元", true},
		{"amount8", "$1234567890", true},
		{"amount8", "12345678901", false},
		{"amount8", "¥¥3", false},
		{"amount8", "三十元", false},
		{"phone_number9", "+86-0766-66888866", true},
		{"phone_number9", "+86-0766-668888661", false},
		{"phone_number9", "400 800 1234", true},
		{"phone_number9", "call me", false},
		{"car_number10", "粤A8Z888挂", true},
		{"car_number10", "粤AD12345", true},
		{"car_number10", "粤A8Z888挂1", false},
		{"car_number10", "A粤8Z88", false},
		{"name11", strings.Repeat("张", 10), true},
		{"name11", strings.Repeat("张", 11), false},
		{"name11", strings.Repeat("a", 20), true},
		{"name11", strings.Repeat("a", 21), false},
		{"name11", "张三Bob" + strings.Repeat("b", 6), false}, // mixed counts as Chinese: 10 max
		{"phrase12", "配送中", true},
		{"phrase12", "已经完成配送", false},
		{"phrase12", "ok", false},
		{"const13", strings.Repeat("枚", 20), true},
		{"const13", strings.Repeat("枚", 21), false},
		{"thing", "no digits: typed too", true},
		{"phrase", "too long for a phrase", false},
		{"first", strings.Repeat("长", 500), true},
		{"remark", "", true},
		{"keyword1", strings.Repeat("旧", 200), true},
		{"keyword2", "", true},
		{"withdrawMoney", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			errs := wechat.CheckTemplateData([]string{tt.key}, map[string]string{tt.key: tt.value})
			if tt.ok && errs != nil {
				t.Errorf("rejected: %v", errs[0])
			}
			if !tt.ok {
				if len(errs) != 1 {
					t.Fatalf("errors = %v, want one", errs)
				}
				if errs[0].Key != tt.key || !strings.HasPrefix(errs[0].Msg, tt.key+" ") {
					t.Errorf("error = %+v", errs[0])
				}
				if want := "data." + tt.key + ".value invalid"; !strings.Contains(errs[0].Error(), want) {
					t.Errorf("Error() = %q, want it to contain %q", errs[0].Error(), want)
				}
			}
		})
	}
}

func TestCheckTemplateData_MessageIsChinese(t *testing.T) {
	errs := wechat.CheckTemplateData([]string{"thing1"}, map[string]string{"thing1": strings.Repeat("x", 21)})
	if len(errs) != 1 || errs[0].Msg != "thing1 最多 20 个字符" {
		t.Errorf("errors = %v", errs)
	}
}

func TestCheckTemplateData_EmptyValues(t *testing.T) {
	keys := []string{"first", "thing1", "date2", "amount3", "keyword1", "remark"}
	data := map[string]string{"thing1": "  ", "amount3": "¥1"} // date2 missing
	errs := wechat.CheckTemplateData(keys, data)
	if len(errs) != 2 || errs[0].Key != "thing1" || errs[1].Key != "date2" {
		t.Fatalf("errors = %v, want thing1 and date2 empty", errs)
	}
	if got := errs[1].Error(); !strings.Contains(got, "data.date2.value is empty") || !strings.Contains(got, "不能为空") {
		t.Errorf("Error() = %q", got)
	}
}

func TestCheckTemplateData_IgnoresExtraKeysAndDuplicates(t *testing.T) {
	errs := wechat.CheckTemplateData([]string{"thing1", "thing1"}, map[string]string{
		"thing1": strings.Repeat("x", 21),
		"thing9": strings.Repeat("x", 99), // not in the template: WeChat ignores it
	})
	if len(errs) != 1 || errs[0].Key != "thing1" {
		t.Errorf("errors = %v, want one for thing1", errs)
	}
	if errs := wechat.CheckTemplateData(nil, map[string]string{"phrase1": "too long here"}); errs != nil {
		t.Errorf("errors = %v, want nil", errs)
	}
}
