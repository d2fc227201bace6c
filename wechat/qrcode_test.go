package wechat_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

func TestCreateQRCode(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/qrcode/create", func(t *testing.T, _ *http.Request, body []byte) string {
		sameJSON(t, body, `{"expire_seconds":600,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"bind_xyz"}}}`)
		return `{"ticket":"gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==","expire_seconds":600,"url":"http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"}`
	})
	qr, err := c.CreateQRCode(t.Context(), testToken, "bind_xyz", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := wechat.QRCode{
		Ticket:        "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==",
		ExpireSeconds: 600,
		URL:           "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI",
	}
	if qr != want {
		t.Errorf("CreateQRCode = %+v", qr)
	}
}

func TestCreateQRCode_Limits(t *testing.T) {
	calls := 0
	c := apiStub(t, "POST", "/cgi-bin/qrcode/create", func(*testing.T, *http.Request, []byte) string {
		calls++
		return `{"ticket":"T","expire_seconds":2592000,"url":"http://weixin.qq.com/q/x"}`
	})
	ok := []struct {
		scene  string
		expire time.Duration
	}{{"a", time.Second}, {strings.Repeat("x", 64), 30 * 24 * time.Hour}}
	for _, tt := range ok {
		if _, err := c.CreateQRCode(t.Context(), testToken, tt.scene, tt.expire); err != nil {
			t.Errorf("CreateQRCode(%d-byte scene, %v): %v", len(tt.scene), tt.expire, err)
		}
	}
	bad := []struct {
		scene  string
		expire time.Duration
	}{
		{"", time.Minute},
		{strings.Repeat("x", 65), time.Minute},
		{"a", 0},
		{"a", 999 * time.Millisecond},
		{"a", -time.Minute},
		{"a", 30*24*time.Hour + time.Second},
	}
	for _, tt := range bad {
		if _, err := c.CreateQRCode(t.Context(), testToken, tt.scene, tt.expire); !errors.Is(err, wechat.ErrBadQRRequest) {
			t.Errorf("CreateQRCode(%d-byte scene, %v) err = %v, want ErrBadQRRequest", len(tt.scene), tt.expire, err)
		}
	}
	if calls != len(ok) {
		t.Errorf("%d calls to WeChat, want %d (invalid requests must not be sent)", calls, len(ok))
	}
}

func TestCreateQRCode_WeChatError(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/qrcode/create", func(*testing.T, *http.Request, []byte) string {
		return `{"errcode":40001,"errmsg":"invalid credential rid: x"}`
	})
	_, err := c.CreateQRCode(t.Context(), testToken, "s", time.Minute)
	if !wechat.IsTokenInvalid(err) {
		t.Errorf("err = %v, want a token-invalid *Error", err)
	}
}
