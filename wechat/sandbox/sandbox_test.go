package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	appID  = "wx0123456789abcdef"
	secret = "s3cr3t0123456789abcdef0123456789"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newSandbox(t *testing.T, opts Options) (*Sandbox, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	opts.AppID, opts.AppSecret, opts.Now = appID, secret, clk.Now
	sb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return sb, clk
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see WeChat's 302 to the app.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func authorizeURL(base, redirectURI, scope, state string) string {
	return base + "/connect/oauth2/authorize?appid=" + appID + "&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=" + scope + "&state=" + state
}

// formAction extracts the first form's action from a page.
func formAction(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in page:\n%s", page)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

func TestOAuthPage_UserInfoAllow(t *testing.T) {
	sb, _ := newSandbox(t, Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := browser(t)
	lisi := sb.Users()[1]

	status, page := get(t, c, authorizeURL(srv.URL, "https://app.example/cb?x=1", "snsapi_userinfo", "Ab9"))
	if status != 200 || !strings.Contains(page, "选择模拟的微信用户") || !strings.Contains(page, `id="new-nickname"`) || !strings.Contains(page, `id="choose"`) {
		t.Fatalf("chooser: status %d\n%s", status, page)
	}
	for _, u := range sb.Users() {
		if !strings.Contains(page, `data-openid="`+u.OpenID+`"`) || !strings.Contains(page, u.Nickname) {
			t.Errorf("chooser lacks user %s", u.Nickname)
		}
	}
	action := srv.URL + formAction(t, page)

	resp := post(t, c, action, url.Values{"step": {"choose"}, "openid": {lisi.OpenID}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="allow"`) || !strings.Contains(string(body), `id="deny"`) || !strings.Contains(string(body), "昵称、头像") {
		t.Fatalf("consent: status %d\n%s", resp.StatusCode, body)
	}

	resp = post(t, c, srv.URL+formAction(t, string(body)), url.Values{"step": {"allow"}, "openid": {lisi.OpenID}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("allow: status %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !regexp.MustCompile(`^https://app\.example/cb\?x=1&code=[A-Za-z0-9_-]+&state=Ab9$`).MatchString(loc) {
		t.Errorf("Location = %q", loc)
	}

	// The chosen user is remembered and preselected next time.
	_, page = get(t, c, authorizeURL(srv.URL, "https://app.example/cb", "snsapi_base", ""))
	if !regexp.MustCompile(`value="` + lisi.OpenID + `"[^>]*checked`).MatchString(page) {
		t.Errorf("李四 not preselected:\n%s", page)
	}
}

func TestOAuthPage_Deny(t *testing.T) {
	sb, _ := newSandbox(t, Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := browser(t)
	u := sb.Users()[0]
	action := authorizeURL(srv.URL, "https://app.example/cb", "snsapi_userinfo", "xyz")
	post(t, c, action, url.Values{"step": {"choose"}, "openid": {u.OpenID}})
	resp := post(t, c, action, url.Values{"step": {"deny"}, "openid": {u.OpenID}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "https://app.example/cb?state=xyz" {
		t.Errorf("Location = %q, want state only", loc)
	}
}

func TestOAuthPage_BaseIsSilentAndNewUser(t *testing.T) {
	sb, _ := newSandbox(t, Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := browser(t)
	_, page := get(t, c, authorizeURL(srv.URL, "https://app.example/cb#frag", "snsapi_base", "s1"))
	resp := post(t, c, srv.URL+formAction(t, page), url.Values{"step": {"choose"}, "nickname": {"  小明 "}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !regexp.MustCompile(`^https://app\.example/cb\?code=[A-Za-z0-9_-]+&state=s1#frag$`).MatchString(loc) {
		t.Errorf("Location = %q", loc)
	}
	u, ok := sb.User(OpenID(appID, "小明"))
	if !ok || u.Nickname != "小明" || len(sb.Users()) != 4 {
		t.Errorf("new user not created: %+v, %d users", u, len(sb.Users()))
	}
}

func TestOAuthPage_ChooseNobody(t *testing.T) {
	sb, _ := newSandbox(t, Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	resp := post(t, browser(t), authorizeURL(srv.URL, "https://app.example/cb", "snsapi_base", ""), url.Values{"step": {"choose"}, "openid": {"onobody"}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "请选择一个用户") {
		t.Errorf("status %d\n%s", resp.StatusCode, body)
	}
}

func TestOAuthPage_BadParameters(t *testing.T) {
	sb, _ := newSandbox(t, Options{RedirectDomain: "app.example"})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	ok := url.Values{
		"appid": {appID}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"},
		"scope": {"snsapi_base"}, "state": {"abc"},
	}
	tests := []struct {
		name, param, value string
		code               string // "" when WeChat documents none
		text               string
	}{
		{"no appid", "appid", "", "10012", "appid不能为空"},
		{"unknown appid", "appid", "wxother", "40013", "appid无效"},
		{"no redirect_uri", "redirect_uri", "", "10011", "redirect_uri不能为空"},
		{"relative redirect_uri", "redirect_uri", "/cb", "10003", "redirect_uri域名与后台配置不一致"},
		{"other domain", "redirect_uri", "https://evil.example/cb", "10003", "redirect_uri域名与后台配置不一致"},
		{"subdomain", "redirect_uri", "https://www.app.example/cb", "10003", "redirect_uri域名与后台配置不一致"},
		{"response_type", "response_type", "token", "", "response_type参数错误"},
		{"no scope", "scope", "", "10010", "scope不能为空"},
		{"bad scope", "scope", "snsapi_login", "10005", "此公众号并没有这些scope的权限"},
		{"state charset", "state", "a-b", "", "state参数错误"},
		{"state too long", "state", strings.Repeat("a", 129), "", "state参数错误"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range ok {
				q[k] = v
			}
			q.Set(tt.param, tt.value)
			for _, method := range []string{"GET", "POST"} {
				var status int
				var page string
				if method == "GET" {
					status, page = get(t, browser(t), srv.URL+"/connect/oauth2/authorize?"+q.Encode())
				} else {
					resp := post(t, browser(t), srv.URL+"/connect/oauth2/authorize?"+q.Encode(), url.Values{"step": {"deny"}})
					b, _ := io.ReadAll(resp.Body)
					status, page = resp.StatusCode, string(b)
				}
				if status != http.StatusBadRequest || !strings.Contains(page, tt.text) {
					t.Errorf("%s: status %d, want 400 with %q\n%s", method, status, tt.text, page)
				}
				if tt.code != "" && !strings.Contains(page, `<span id="error-code">`+tt.code+`</span>`) {
					t.Errorf("%s: page lacks error code %s", method, tt.code)
				}
			}
		})
	}
	// The valid query, with a port-less domain config, accepts any port.
	q := ok
	q.Set("redirect_uri", "https://app.example:8443/cb")
	if status, page := get(t, browser(t), srv.URL+"/connect/oauth2/authorize?"+q.Encode()); status != 200 {
		t.Errorf("valid request: status %d\n%s", status, page)
	}
	q.Set("state", strings.Repeat("Z9", 64))
	if status, _ := get(t, browser(t), srv.URL+"/connect/oauth2/authorize?"+q.Encode()); status != 200 {
		t.Errorf("128-byte state rejected: status %d", status)
	}
}

func TestRedirectTo(t *testing.T) {
	tests := []struct{ uri, code, state, want string }{
		{"https://a.example/cb", "C", "S", "https://a.example/cb?code=C&state=S"},
		{"https://a.example/cb?x=1", "C", "S", "https://a.example/cb?x=1&code=C&state=S"},
		{"https://a.example/cb?", "C", "S", "https://a.example/cb?code=C&state=S"},
		{"https://a.example/cb?x=1#f", "", "S", "https://a.example/cb?x=1&state=S#f"},
		{"https://a.example/cb", "C", "", "https://a.example/cb?code=C&state="},
	}
	for _, tt := range tests {
		if got := redirectTo(tt.uri, tt.code, tt.state); got != tt.want {
			t.Errorf("redirectTo(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

func TestOpenID_Stable(t *testing.T) {
	a, _ := New(Options{AppID: "wxA", AppSecret: "x"})
	a2, _ := New(Options{AppID: "wxA", AppSecret: "y", Users: []string{}})
	b, _ := New(Options{AppID: "wxB", AppSecret: "x"})
	ua, ua2, ub := a.AddUser("阿花"), a2.AddUser("阿花"), b.AddUser("阿花")
	if ua.OpenID != ua2.OpenID {
		t.Errorf("same app and nickname: %s != %s", ua.OpenID, ua2.OpenID)
	}
	if ua.OpenID == ub.OpenID {
		t.Error("different apps share an openid")
	}
	if !regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`).MatchString(ua.OpenID) {
		t.Errorf("openid %q does not look like a WeChat openid", ua.OpenID)
	}
	if again := a.AddUser("阿花"); again != ua || len(a.Users()) != 4 {
		t.Errorf("AddUser not idempotent: %+v vs %+v, %d users", again, ua, len(a.Users()))
	}
	if got := a.Users(); got[0].Nickname != "张三" || got[1].Nickname != "李四" || got[2].Nickname != "王五" {
		t.Errorf("default users = %+v", got)
	}
}

func TestCheckAccessToken(t *testing.T) {
	sb, clk := newSandbox(t, Options{TokenTTL: time.Hour})
	mint := func() string {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		now := clk.Now()
		if sb.latest != nil {
			sb.latest.superseded = now
		}
		sb.latest = sb.mintLocked(now)
		return sb.latest.value
	}
	check := func(tok string) int {
		r := httptest.NewRequest("GET", "/cgi-bin/x?access_token="+url.QueryEscape(tok), nil)
		if tok == "" {
			r = httptest.NewRequest("GET", "/cgi-bin/x", nil)
		}
		if e := sb.checkAccessToken(r); e != nil {
			return e.Code
		}
		return 0
	}
	old := mint()
	cur := mint()
	tests := []struct {
		name    string
		advance time.Duration
		token   string
		want    int
	}{
		{"missing", 0, "", 41001},
		{"unknown", 0, "nope", 40014},
		{"current", 0, cur, 0},
		{"superseded within grace", 4 * time.Minute, old, 0},
		{"superseded past grace", 2 * time.Minute, old, 40001},
		{"current later", 0, cur, 0},
		{"expired", time.Hour, cur, 42001},
	}
	for _, tt := range tests {
		clk.Advance(tt.advance)
		if got := check(tt.token); got != tt.want {
			t.Errorf("%s: code %d, want %d", tt.name, got, tt.want)
		}
	}
	fresh := mint()
	sb.InvalidateTokens()
	if got := check(fresh); got != 40001 {
		t.Errorf("after InvalidateTokens: %d, want 40001", got)
	}
}

func TestAPI_ErrorsAreJSONWithRid(t *testing.T) {
	sb, _ := newSandbox(t, Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	creds := "&appid=" + appID + "&secret=" + secret
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"grant_type", "GET", "/cgi-bin/token?grant_type=x" + creds, "", 40002, "invalid grant_type"},
		{"appid", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=" + secret, "", 40013, "invalid appid"},
		{"secret", "GET", "/cgi-bin/token?grant_type=client_credential&appid=" + appID + "&secret=x", "", 40125, "invalid appsecret"},
		{"no appid", "GET", "/cgi-bin/token?grant_type=client_credential", "", 41002, "appid missing"},
		{"stable GET", "GET", "/cgi-bin/stable_token", "", 43002, "require POST method"},
		{"stable not JSON", "POST", "/cgi-bin/stable_token", "grant_type=client_credential", 47001, "data format error"},
		{"stable empty", "POST", "/cgi-bin/stable_token", "", 44002, "empty post data"},
		{"stable appid", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wx1","secret":"x"}`, 40013, "invalid appid"},
		{"sns grant_type", "GET", "/sns/oauth2/access_token?code=c&grant_type=x" + creds, "", 40002, "invalid grant_type"},
		{"sns no code", "GET", "/sns/oauth2/access_token?grant_type=authorization_code" + creds, "", 41008, "missing code"},
		{"userinfo no token", "GET", "/sns/userinfo?openid=o1", "", 41001, "access_token missing"},
		{"api no token", "GET", "/cgi-bin/get_api_domain_ip", "", 41001, "access_token missing"},
	}
	ridRE := regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				ErrCode int    `json:"errcode"`
				ErrMsg  string `json:"errmsg"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || got.ErrCode != tt.code || !strings.HasPrefix(got.ErrMsg, tt.msg+" rid: ") || !ridRE.MatchString(got.ErrMsg) {
				t.Errorf("status %d %+v, want 200 %d %q + rid", resp.StatusCode, got, tt.code, tt.msg)
			}
		})
	}
}

func TestPages(t *testing.T) {
	sb, _ := newSandbox(t, Options{PathPrefix: "/sandbox"})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := browser(t)
	zhang := sb.Users()[0]

	status, page := get(t, c, srv.URL+"/sandbox/")
	if status != 200 || !strings.Contains(page, "wxpush 沙箱 · 模拟微信") || !strings.Contains(page, appID) ||
		strings.Contains(page, secret) || !strings.Contains(page, `href="/sandbox/phone/`+zhang.OpenID+`"`) {
		t.Errorf("home: status %d\n%s", status, page)
	}

	resp := post(t, c, srv.URL+"/sandbox/users", url.Values{"nickname": {"小红"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sandbox/" {
		t.Errorf("add user: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, ok := sb.User(OpenID(appID, "小红")); !ok {
		t.Error("user not added")
	}

	status, page = get(t, c, srv.URL+"/sandbox/phone")
	if status != 200 || !strings.Contains(page, "小红") {
		t.Errorf("phones: status %d", status)
	}
	status, page = get(t, c, srv.URL+"/sandbox/phone/"+zhang.OpenID)
	if status != 200 || !strings.Contains(page, "暂无消息") || !strings.Contains(page, zhang.OpenID) || !strings.Contains(page, "张三") {
		t.Errorf("phone: status %d\n%s", status, page)
	}
	if status, _ = get(t, c, srv.URL+"/sandbox/phone/onobody"); status != 404 {
		t.Errorf("unknown phone: status %d", status)
	}
	if status, page = get(t, c, srv.URL+zhang.HeadImgURL); status != 200 || !strings.Contains(page, "<svg") {
		t.Errorf("avatar: status %d", status)
	}
	if status, _ = get(t, c, srv.URL+"/sandbox/nope"); status != 404 {
		t.Errorf("unknown route: status %d", status)
	}

	// Mounted: the OAuth form posts back under the prefix.
	_, page = get(t, c, authorizeURL(srv.URL+"/sandbox", "https://app.example/cb", "snsapi_base", "s"))
	if a := formAction(t, page); !strings.HasPrefix(a, "/sandbox/connect/oauth2/authorize?appid=") {
		t.Errorf("form action %q", a)
	}
	if got := sb.FollowURL("http://localhost:8080/sandbox/"); got != "http://localhost:8080/sandbox/phone" {
		t.Errorf("FollowURL = %q", got)
	}
}

func TestNew_RequiresCredentials(t *testing.T) {
	if _, err := New(Options{AppID: "wx1"}); err == nil {
		t.Error("New without secret succeeded")
	}
}
