package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFaultsForm_SetsTheOtherSystemAndTheIPWhitelist(t *testing.T) {
	a := newAPI(t, Options{})
	c := browser(t)
	resp := post(t, c, a.srv.URL+"/faults", url.Values{"rival_minutes": {"10"}, "ip_whitelist": {" 203.0.113.7 , ::1"}})
	want := Faults{RivalRefreshEvery: 10 * time.Minute, IPWhitelist: "203.0.113.7, ::1"}
	if resp.StatusCode != http.StatusSeeOther || a.sb.Faults() != want {
		t.Fatalf("set faults: %d %+v", resp.StatusCode, a.sb.Faults())
	}
	_, page := get(t, c, a.srv.URL+"/")
	if !strings.Contains(page, `id="rival-minutes" name="rival_minutes" min="0" step="any" value="10"`) ||
		!strings.Contains(page, `value="203.0.113.7, ::1"`) {
		t.Error("home does not show the faults set")
	}
	for _, bad := range []url.Values{{"ip_whitelist": {"not-an-ip"}}, {"rival_minutes": {"-1"}}} {
		if resp := post(t, c, a.srv.URL+"/faults", bad); resp.StatusCode != 400 || a.sb.Faults() != want {
			t.Errorf("%v: %d %+v", bad, resp.StatusCode, a.sb.Faults())
		}
	}
}

// The other system forces a refresh every period: the token it replaced
// answers 40001 five minutes after (WeChat's grace for a replaced token).
func TestRival_ReplacesTheStableTokenOnSchedule(t *testing.T) {
	a := newAPI(t, Options{})
	clk := a.clk
	tok := stableToken(t, a)
	plain := a.token() // /cgi-bin/token's tokens are a separate family: untouched
	a.sb.SetFaults(Faults{RivalRefreshEvery: 10 * time.Minute})
	clk.Advance(14 * time.Minute) // replaced at +10, still valid until +15
	if code := a.do("GET", "/cgi-bin/get_api_domain_ip", tok, "").code; code != 0 {
		t.Fatalf("inside the grace: %d", code)
	}
	clk.Advance(2 * time.Minute)
	if code := a.do("GET", "/cgi-bin/get_api_domain_ip", tok, "").code; code != 40001 {
		t.Fatalf("after the grace: %d, want 40001", code)
	}
	if n := a.sb.RivalRefreshes(); n != 1 {
		t.Fatalf("%d forced refreshes at +16 min, want 1", n)
	}
	if code := a.do("GET", "/cgi-bin/get_api_domain_ip", plain, "").code; code != 0 {
		t.Fatalf("the /cgi-bin/token token: %d", code)
	}
	if fresh := stableToken(t, a); fresh == tok {
		t.Fatal("stable_token still answers the replaced token")
	}
}

func stableToken(t *testing.T, a *api) string {
	t.Helper()
	var tok tokenJSON
	_, raw := a.call("POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"`+appID+`","secret":"`+secret+`"}`)
	if err := json.Unmarshal([]byte(raw), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("stable_token: %s", raw)
	}
	return tok.AccessToken
}
