package wechat_test

import (
	"testing"

	"github.com/wxpush/wxpush/wechat"
)

func TestError_CallerIPFrom40164(t *testing.T) {
	tests := []struct {
		code int
		msg  string
		want string
	}{
		{40164, "invalid ip 182.150.41.147 ipv6 ::ffff:182.150.41.147, not in whitelist rid: 68231586-663e56da-1e04e5eb", "182.150.41.147"},
		{40164, "invalid ip 2001:db8::7, not in whitelist rid: 1", "2001:db8::7"},
		{40164, "invalid ip ::ffff:10.1.2.3, not in whitelist", "10.1.2.3"},
		{40164, "not in whitelist", ""},
		{40164, "invalid ip 999.1.1.1, not in whitelist", ""},
		{40001, "invalid ip 1.2.3.4", ""},
	}
	for _, tt := range tests {
		if got := (&wechat.Error{Code: tt.code, Msg: tt.msg}).CallerIP(); got != tt.want {
			t.Errorf("%d %q: %q, want %q", tt.code, tt.msg, got, tt.want)
		}
	}
}
