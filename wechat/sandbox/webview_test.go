package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/wechat"
)

func TestTextParts(t *testing.T) {
	tests := []struct {
		in   string
		want []textPart
	}{
		{"你好", []textPart{{Text: "你好"}}},
		{`前文 <a href="https://x.example/m/1">查看全文</a> 后文`,
			[]textPart{{Text: "前文 "}, {Text: "查看全文", URL: "https://x.example/m/1"}, {Text: " 后文"}}},
		{`<a href='http://a.example'>a</a><a href="https://b.example">b</a>`,
			[]textPart{{Text: "a", URL: "http://a.example"}, {Text: "b", URL: "https://b.example"}}},
		{`<a href="javascript:alert(1)">x</a>`, []textPart{{Text: `<a href="javascript:alert(1)">x</a>`}}},
		{"", nil},
	}
	for _, tt := range tests {
		got := textParts(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("textParts(%q) = %+v, want %+v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("textParts(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

// TestWebView_OpensLinksInThePhoneAndKnowsItsHolder: the phone's browser
// frames the page; inside it, snsapi_base is silent for the phone's user,
// as in WeChat; outside it the chooser still asks who holds the phone.
func TestWebView_OpensLinksInThePhoneAndKnowsItsHolder(t *testing.T) {
	sb, clk := newSandbox(t, Options{PathPrefix: "/sandbox"})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	zhang := sb.Users()[0].OpenID
	c := browser(t)
	a := &api{t, sb, clk, httptest.NewServer(sb)}
	defer a.srv.Close()
	wantCode(t, "text", a.sendText(a.token(), zhang, `开头…<a href="https://app.example/m/abc">查看全文</a>`), 0, "ok")
	if _, page := get(t, c, srv.URL+"/sandbox/phone/"+zhang); !strings.Contains(page,
		`<a href="/sandbox/phone/`+zhang+`/web?url=https%3A%2F%2Fapp.example%2Fm%2Fabc" class="bubble-link" data-url="https://app.example/m/abc">查看全文</a>`) {
		t.Errorf("the text's link is not tappable:\n%s", page)
	}

	status, page := get(t, c, srv.URL+"/sandbox/phone/"+zhang+"/web?url="+url.QueryEscape("https://app.example/t/ops"))
	if status != 200 || !strings.Contains(page, `<iframe src="https://app.example/t/ops" id="webview"`) ||
		!strings.Contains(page, `href="/sandbox/phone/`+zhang+`" id="webview-close"`) {
		t.Fatalf("web view %d:\n%s", status, page)
	}
	for _, bad := range []string{"javascript:alert(1)", "/relative", ""} {
		if status, _ := get(t, c, srv.URL+"/sandbox/phone/"+zhang+"/web?url="+url.QueryEscape(bad)); status != http.StatusBadRequest {
			t.Errorf("web view of %q: %d", bad, status)
		}
	}
	if status, _ := get(t, c, srv.URL+"/sandbox/phone/nobody/web?url=https%3A%2F%2Fa.example"); status != http.StatusNotFound {
		t.Errorf("unknown phone: %d", status)
	}
	resp := post(t, c, srv.URL+"/sandbox/phone/"+zhang+"/open", url.Values{"url": {"https://app.example/t/ops"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/web?url=https%3A%2F%2Fapp.example%2Ft%2Fops") {
		t.Errorf("open link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := post(t, c, srv.URL+"/sandbox/phone/"+zhang+"/open", url.Values{"url": {"ftp://x"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("open a bad link: %d", resp.StatusCode)
	}

	authorize := func(scope string, framed bool) *http.Response {
		q := "appid=" + appID + "&redirect_uri=" + url.QueryEscape("https://app.example/t/ops/wechat") +
			"&response_type=code&scope=" + scope + "&state=topic"
		req, _ := http.NewRequest("GET", srv.URL+"/sandbox/connect/oauth2/authorize?"+q, nil)
		if framed {
			req.Header.Set("Sec-Fetch-Dest", "iframe")
		} else {
			req.Header.Set("Sec-Fetch-Dest", "document")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp = authorize(wechat.ScopeBase, true)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" || loc.Query().Get("state") != "topic" {
		t.Fatalf("framed snsapi_base: %d %s, want a silent redirect with a code", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("X-Frame-Options") == "DENY" {
		t.Error("sandbox pages cannot be framed")
	}
	if resp := authorize(wechat.ScopeBase, false); resp.StatusCode != http.StatusOK {
		t.Errorf("unframed snsapi_base: %d, want the chooser", resp.StatusCode)
	}
	if resp := authorize(wechat.ScopeUserInfo, true); resp.StatusCode != http.StatusOK || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("framed snsapi_userinfo: %d, want the consent page, framable", resp.StatusCode)
	}
}
