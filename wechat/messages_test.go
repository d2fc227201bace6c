package wechat_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

const testToken = "ACCESS_TOKEN_x1"

// apiStub is a WeChat API endpoint for one test: it checks the method, path
// and access_token, hands the raw body to check, and answers reply.
func apiStub(t *testing.T, method, path string, handle func(t *testing.T, r *http.Request, body []byte) string) *wechat.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.Path != path {
			t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, method, path)
		}
		if got := r.URL.Query().Get("access_token"); got != testToken {
			t.Errorf("access_token = %q", got)
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		fmt.Fprint(w, handle(t, r, body))
	}))
	t.Cleanup(srv.Close)
	return &wechat.Client{AppID: testAppID, AppSecret: testSecret, APIBase: srv.URL, HTTP: srv.Client()}
}

// sameJSON fails unless got and want encode the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n %s\nwant\n %s", got, want)
	}
}

func TestSendTemplate_BodyAndSixtyFourBitMsgID(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/message/template/send", func(t *testing.T, r *http.Request, body []byte) string {
		sameJSON(t, body, `{"touser":"oyORnuP8q7ou2gfYjqLzSIWZf0rs","template_id":"ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
			"url":"https://example.com/x?a=1&b=2","client_msg_id":"MSG_0001",
			"data":{"thing1":{"value":"巧克力"},"amount2":{"value":"39.8元"},"remark":{"value":"<谢谢>"}}}`)
		if !strings.Contains(string(body), "a=1&b=2") || !strings.Contains(string(body), "<谢谢>") {
			t.Errorf("body HTML-escaped: %s", body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		return `{"errcode":0,"errmsg":"ok","msgid":3717005636572528642}`
	})
	id, err := c.SendTemplate(t.Context(), testToken, wechat.TemplateMessage{
		ToUser:      "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
		TemplateID:  "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
		URL:         "https://example.com/x?a=1&b=2",
		ClientMsgID: "MSG_0001",
		Data:        map[string]string{"thing1": "巧克力", "amount2": "39.8元", "remark": "<谢谢>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != 3717005636572528642 {
		t.Errorf("msgid = %d, want 3717005636572528642", id)
	}
}

func TestSendTemplate_OmitsEmptyOptionalFields(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/message/template/send", func(t *testing.T, _ *http.Request, body []byte) string {
		sameJSON(t, body, `{"touser":"o1","template_id":"T1","data":{}}`)
		return `{"errcode":0,"errmsg":"ok","msgid":200228332}`
	})
	id, err := c.SendTemplate(t.Context(), testToken, wechat.TemplateMessage{ToUser: "o1", TemplateID: "T1"})
	if err != nil || id != 200228332 {
		t.Errorf("SendTemplate = %d, %v", id, err)
	}
}

func TestSendTemplate_Errors(t *testing.T) {
	for _, tt := range []struct {
		reply string
		code  int
	}{
		{`{"errcode":40037,"errmsg":"invalid template_id rid: 647861e7-232b69aa-0f7213be"}`, 40037},
		{`{"errcode":47003,"errmsg":"argument invalid! data.phrase1.value invalid rid: 6545fba2-3356d3fd-09a65b0c"}`, 47003},
		{`{"errcode":43004,"errmsg":"require subscribe rid: 1-2-3"}`, 43004},
	} {
		c := apiStub(t, "POST", "/cgi-bin/message/template/send", func(*testing.T, *http.Request, []byte) string { return tt.reply })
		_, err := c.SendTemplate(t.Context(), testToken, wechat.TemplateMessage{ToUser: "o1", TemplateID: "T1"})
		if we, ok := err.(*wechat.Error); !ok || we.Code != tt.code || we.Temporary() || we.TokenInvalid() {
			t.Errorf("err = %v, want permanent *wechat.Error %d", err, tt.code)
		}
	}
}

func TestSendText_Body(t *testing.T) {
	const content = `点击<a href="https://example.com/?a=1&b=2">这里</a>`
	c := apiStub(t, "POST", "/cgi-bin/message/custom/send", func(t *testing.T, _ *http.Request, body []byte) string {
		sameJSON(t, body, `{"touser":"o1","msgtype":"text","text":{"content":"点击<a href=\"https://example.com/?a=1&b=2\">这里</a>"}}`)
		if !strings.Contains(string(body), `<a href=`) {
			t.Errorf("link HTML-escaped: %s", body)
		}
		return `{"errcode":0,"errmsg":"ok"}`
	})
	if err := c.SendText(t.Context(), testToken, "o1", content); err != nil {
		t.Fatal(err)
	}
}

func TestSendText_OutsideWindow(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/message/custom/send", func(*testing.T, *http.Request, []byte) string {
		return `{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 5f3ded7d-22929d02-4ba1f5f6"}`
	})
	err := c.SendText(t.Context(), testToken, "o1", "hi")
	if we, ok := err.(*wechat.Error); !ok || we.Code != 45015 || !strings.Contains(we.Explain(), "模板消息") {
		t.Errorf("err = %v", err)
	}
}

func TestTemplates_ListAndKeys(t *testing.T) {
	c := apiStub(t, "GET", "/cgi-bin/template/get_all_private_template", func(*testing.T, *http.Request, []byte) string {
		// docs/wechat-details.md §4.3, plus a category template
		return `{"template_list":[{"template_id":"iPk5sOIt5X_flOVKn5GrTFpncEYTojx6ddbt8WYoV5s","title":"领取奖金提醒","primary_industry":"IT科技","deputy_industry":"互联网|电子商务","content":"{{result.DATA}}\n\n领奖金额:{{withdrawMoney.DATA}}\n领奖  时间:    {{withdrawTime.DATA}}\n银行信息:{{cardInfo.DATA}}\n到账时间:  {{arrivedTime.DATA}}\n{{remark.DATA}}","example":"您已提交领奖申请\n\n领奖金额：xxxx元"},
			{"template_id":"T2","title":"工单提醒","primary_industry":"","deputy_industry":"","content":"工单类型:{{const3.DATA}}\n工单名称:{{thing1.DATA}}","example":""}]}`
	})
	ts, err := c.Templates(t.Context(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("%d templates, want 2", len(ts))
	}
	want := wechat.Template{ID: "iPk5sOIt5X_flOVKn5GrTFpncEYTojx6ddbt8WYoV5s", Title: "领取奖金提醒", PrimaryIndustry: "IT科技",
		DeputyIndustry: "互联网|电子商务", Example: "您已提交领奖申请\n\n领奖金额：xxxx元"}
	got := ts[0]
	got.Content = ""
	if got != want {
		t.Errorf("template = %+v", ts[0])
	}
	if k := ts[0].Keys(); !slices.Equal(k, []string{"result", "withdrawMoney", "withdrawTime", "cardInfo", "arrivedTime", "remark"}) {
		t.Errorf("Keys = %v", k)
	}
	if k := ts[1].Keys(); !slices.Equal(k, []string{"const3", "thing1"}) {
		t.Errorf("Keys = %v", k)
	}
}

func TestTemplateKeys(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"api form", "{{first.DATA}}\n用户：{{user.DATA}}\n{{remark.DATA}}", []string{"first", "user", "remark"}},
		{"doc artefact", "{ {result.DATA} }\n金额:{ {withdrawMoney.DATA} }", []string{"result", "withdrawMoney"}},
		{"duplicates and spaces", "{{thing1.DATA}} {{ thing1.DATA }} {{time2.DATA}} { {thing1.DATA} }", []string{"thing1", "time2"}},
		{"not placeholders", "{{thing1}} {{.DATA}} {thing2.DATA} 纯文本", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (wechat.Template{Content: tt.content}).Keys(); !slices.Equal(got, tt.want) {
				t.Errorf("Keys() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFollower(t *testing.T) {
	c := apiStub(t, "GET", "/cgi-bin/user/info", func(t *testing.T, r *http.Request, _ []byte) string {
		q := r.URL.Query()
		if q.Get("lang") != "zh_CN" {
			t.Errorf("lang = %q", q.Get("lang"))
		}
		if q.Get("openid") == "otvxTs_JZ6SEiP0imdhpi50fuSZg" {
			return `{"subscribe":0,"openid":"otvxTs_JZ6SEiP0imdhpi50fuSZg","unionid":"oR5GjjjrbqBZbrnPwwmSxFukE41U"}`
		}
		return `{"subscribe":1,"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","language":"zh_CN","subscribe_time":1382694957,"unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL","remark":"备注","groupid":0,"tagid_list":[128,2],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":""}`
	})
	f, err := c.Follower(t.Context(), testToken, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
	if err != nil {
		t.Fatal(err)
	}
	want := wechat.Follower{OpenID: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", Subscribed: true, SubscribeTime: time.Unix(1382694957, 0).UTC(),
		SubscribeScene: "ADD_SCENE_QR_CODE", UnionID: "o6_bmasdasdsad6_2sgVt7hMZOPfL", Remark: "备注"}
	if f != want {
		t.Errorf("follower = %+v\nwant %+v", f, want)
	}
	f, err = c.Follower(t.Context(), testToken, "otvxTs_JZ6SEiP0imdhpi50fuSZg")
	if err != nil {
		t.Fatal(err)
	}
	if f.Subscribed || !f.SubscribeTime.IsZero() || f.OpenID != "otvxTs_JZ6SEiP0imdhpi50fuSZg" || f.UnionID == "" {
		t.Errorf("non-follower = %+v", f)
	}
}

func TestFollowers_SplitsIntoBatchesOf100InOrder(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	c := apiStub(t, "POST", "/cgi-bin/user/info/batchget", func(t *testing.T, _ *http.Request, body []byte) string {
		var req struct {
			UserList []struct{ OpenID, Lang string } `json:"user_list"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		sizes = append(sizes, len(req.UserList))
		mu.Unlock()
		var list []string
		for _, u := range slices.Backward(req.UserList) { // answer out of order
			if u.Lang != "zh_CN" {
				t.Errorf("lang = %q", u.Lang)
			}
			n := 0
			fmt.Sscanf(u.OpenID, "o%d", &n)
			if n%2 == 0 {
				list = append(list, fmt.Sprintf(`{"subscribe":1,"openid":%q,"subscribe_time":%d,"subscribe_scene":"ADD_SCENE_QR_CODE"}`, u.OpenID, 1700000000+n))
			} else {
				list = append(list, fmt.Sprintf(`{"subscribe":0,"openid":%q}`, u.OpenID))
			}
		}
		return `{"user_info_list":[` + strings.Join(list, ",") + `]}`
	})
	ids := make([]string, 250)
	for i := range ids {
		ids[i] = fmt.Sprintf("o%d", i)
	}
	fs, err := c.Followers(t.Context(), testToken, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("batch sizes = %v, want [100 100 50]", sizes)
	}
	if len(fs) != 250 {
		t.Fatalf("%d followers, want 250", len(fs))
	}
	for i, f := range fs {
		if f.OpenID != ids[i] || f.Subscribed != (i%2 == 0) {
			t.Fatalf("follower %d = %+v, want openid %s subscribed %v", i, f, ids[i], i%2 == 0)
		}
		if f.Subscribed && !f.SubscribeTime.Equal(time.Unix(int64(1700000000+i), 0)) {
			t.Errorf("follower %d subscribe_time = %v", i, f.SubscribeTime)
		}
	}
}

func TestFollowers_Empty(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/user/info/batchget", func(t *testing.T, _ *http.Request, _ []byte) string {
		t.Error("called for no openids")
		return `{}`
	})
	if fs, err := c.Followers(t.Context(), testToken, nil); err != nil || len(fs) != 0 {
		t.Errorf("Followers(nil) = %v, %v", fs, err)
	}
}

func TestFollowers_MissingAnswerIsAnError(t *testing.T) {
	c := apiStub(t, "POST", "/cgi-bin/user/info/batchget", func(*testing.T, *http.Request, []byte) string {
		return `{"user_info_list":[{"subscribe":1,"openid":"oAAAAAAAAAAAA1"}]}`
	})
	_, err := c.Followers(t.Context(), testToken, []string{"oAAAAAAAAAAAA1", "oBBBBBBBBBBBB2"})
	if err == nil || strings.Contains(err.Error(), "oBBBBBBBBBBBB2") {
		t.Errorf("err = %v, want an error naming the masked openid", err)
	}
}
