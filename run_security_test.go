package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

func getBody(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func postBody(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	res, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var xiaoMing = regexp.MustCompile(`data-openid="([^"]+)"><img[^>]*><span class="grow">小明<`)

// The sandbox pushes to /wechat in safe mode, with its own EncodingAESKey:
// its pushes are taken, and a plaintext push, however well signed, is not.
func TestRun_SandboxPushesInSafeModeAndPlaintextIsRefused(t *testing.T) {
	const token = "run-test-token"
	base := startApp(t, map[string]string{"WX_TOKEN": token})

	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "4242"
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(token, ts, nonce)}, "openid": {"oForged"}}
	res, err := http.Post(base+"/wechat?"+q.Encode(), "text/xml", strings.NewReader(
		"<xml><ToUserName>gh</ToUserName><FromUserName>oForged</FromUserName><CreateTime>"+ts+
			"</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "encrypt_type=aes") {
		t.Fatalf("signed plaintext push: %d %s, want 403", res.StatusCode, body)
	}

	// A simulated user writes 状态 to the account: the sandbox pushes the
	// message, encrypted, and shows the app's passive reply.
	if st, b := postBody(t, base+"/sandbox/users", url.Values{"nickname": {"小明"}}); st != 200 {
		t.Fatalf("add sandbox user: %d\n%s", st, b)
	}
	_, home := getBody(t, base+"/sandbox/")
	m := xiaoMing.FindStringSubmatch(home)
	if m == nil {
		t.Fatalf("no user on the sandbox home page:\n%s", home)
	}
	if !strings.Contains(home, `data-mode="safe"`) {
		t.Errorf("the sandbox does not push in safe mode:\n%s", home)
	}
	st, phone := postBody(t, base+"/sandbox/phone/"+url.PathEscape(m[1])+"/say", url.Values{"text": {"状态"}})
	if st != 200 || !strings.Contains(phone, "这个微信还没有绑定账号") {
		t.Fatalf("状态 in the sandbox phone: %d, want the app's reply\n%s", st, phone)
	}
}
