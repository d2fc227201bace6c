// Package sandbox emulates the parts of the WeChat Official Account platform
// that wxpush uses, errors included, so that code passing against it works
// against real WeChat (shared/wechat-api.md, cited as §N; the emulator model
// is in wechat-api-details.md §1.3). It is an http.Handler: the app mounts it
// under /sandbox when no real credentials are configured, and tests run it
// alone with httptest.NewServer. It also "plays the phone": simulated users
// choose and consent on the OAuth page and have a phone page of their own.
package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wxpush/wxpush/wechat"
)

// Options configure a Sandbox. AppID and AppSecret are required.
type Options struct {
	AppID, AppSecret string        // the only app the sandbox knows
	TokenTTL         time.Duration // access token lifetime; default 7200 s
	CodeTTL          time.Duration // OAuth code lifetime; default 5 min
	Now              func() time.Time
	// PathPrefix is where the sandbox is mounted ("/sandbox"; "" when
	// standalone); used for links in its own pages.
	PathPrefix string
	// RedirectDomain, if set, is the host (host[:port]) every OAuth
	// redirect_uri must have, like the account's web-authorization domain.
	RedirectDomain string
	// Users are the nicknames of simulated users seeded at start; default
	// 张三, 李四, 王五.
	Users []string
}

// User is a simulated WeChat user of the account.
type User struct {
	OpenID, Nickname, HeadImgURL string
	Created                      time.Time
}

// Limits the sandbox enforces, as a test account (§1, details §1.1/§1.2).
const (
	tokenDailyLimit   = 200 // /cgi-bin/token on test accounts
	forcedDailyLimit  = 20  // stable_token force_refresh
	forcedMinInterval = 30 * time.Second
	tokenGrace        = 5 * time.Minute // old token valid after a new one
	stableRotateAt    = 300 * time.Second
	refreshTokenTTL   = 30 * 24 * time.Hour
)

// Sandbox is the emulator. Its state lives in memory.
type Sandbox struct {
	opts Options
	mux  *http.ServeMux

	mu        sync.Mutex
	users     map[string]*User // by openid
	order     []string         // openids in creation order
	tokens    map[string]*accessToken
	latest    *accessToken // last /cgi-bin/token token
	stable    *accessToken // current stable_token token
	lastForce time.Time
	tokenDay  dayCounter
	forceDay  dayCounter
	codes     map[string]*oauthCode
	webTokens map[string]*webToken
	refreshes map[string]*refreshToken
}

// New returns a sandbox seeded with opts.Users.
func New(opts Options) (*Sandbox, error) {
	if opts.AppID == "" || opts.AppSecret == "" {
		return nil, errors.New("sandbox: AppID and AppSecret are required")
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 7200 * time.Second
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.PathPrefix = strings.TrimRight(opts.PathPrefix, "/")
	if opts.Users == nil {
		opts.Users = []string{"张三", "李四", "王五"}
	}
	s := &Sandbox{
		opts:      opts,
		users:     map[string]*User{},
		tokens:    map[string]*accessToken{},
		codes:     map[string]*oauthCode{},
		webTokens: map[string]*webToken{},
		refreshes: map[string]*refreshToken{},
	}
	for _, n := range opts.Users {
		s.AddUser(n)
	}
	s.routes()
	return s, nil
}

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	// API (api.weixin.qq.com)
	m.HandleFunc("GET /cgi-bin/token", s.handleToken)
	m.HandleFunc("/cgi-bin/stable_token", s.handleStableToken) // any method: GET answers 43002
	m.HandleFunc("GET /cgi-bin/get_api_domain_ip", s.handleAPIDomainIP)
	m.HandleFunc("GET /sns/oauth2/access_token", s.handleSNSAccessToken)
	m.HandleFunc("GET /sns/oauth2/refresh_token", s.handleSNSRefresh)
	m.HandleFunc("GET /sns/userinfo", s.handleSNSUserInfo)
	m.HandleFunc("GET /sns/auth", s.handleSNSAuth)
	// OAuth page (open.weixin.qq.com) as the phone shows it
	m.HandleFunc("GET /connect/oauth2/authorize", s.handleAuthorize)
	m.HandleFunc("POST /connect/oauth2/authorize", s.handleAuthorizePost)
	// The sandbox's own pages
	m.HandleFunc("GET /{$}", s.handleHome)
	m.HandleFunc("POST /users", s.handleAddUser)
	m.HandleFunc("GET /phone", s.handlePhones)
	m.HandleFunc("GET /phone/{openid}", s.handlePhone)
	m.HandleFunc("GET /avatar/{openid}", s.handleAvatar)
	s.mux = m
}

// ServeHTTP serves the API, the OAuth page and the sandbox pages.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AppID is the only app id the sandbox accepts.
func (s *Sandbox) AppID() string { return s.opts.AppID }

// FollowURL is what the app shows as the account's follow QR in sandbox
// mode: the phone page under base (the sandbox's absolute URL).
func (s *Sandbox) FollowURL(base string) string { return strings.TrimRight(base, "/") + "/phone" }

// OpenID derives the openid of nickname in app appID. It is deterministic so
// that re-seeding after a restart gives the same users; like real openids it
// is per account and 28 characters long.
func OpenID(appID, nickname string) string {
	sum := sha256.Sum256([]byte(appID + "\x00" + nickname))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

const maxNickname = 32 // runes

// AddUser adds a simulated user, or returns the existing one with that
// nickname. An empty nickname becomes 微信用户.
func (s *Sandbox) AddUser(nickname string) User {
	nickname = cleanNickname(nickname)
	openid := OpenID(s.opts.AppID, nickname)
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[openid]; ok {
		return *u
	}
	u := &User{
		OpenID:     openid,
		Nickname:   nickname,
		HeadImgURL: s.opts.PathPrefix + "/avatar/" + openid,
		Created:    s.opts.Now(),
	}
	s.users[openid] = u
	s.order = append(s.order, openid)
	return *u
}

func cleanNickname(n string) string {
	n = strings.Join(strings.Fields(n), " ")
	if !utf8.ValidString(n) {
		n = strings.ToValidUTF8(n, "")
	}
	if utf8.RuneCountInString(n) > maxNickname {
		n = string([]rune(n)[:maxNickname])
	}
	if n == "" {
		n = "微信用户"
	}
	return n
}

// Users lists the simulated users in creation order.
func (s *Sandbox) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.users[id])
	}
	return out
}

// User returns the simulated user with openid.
func (s *Sandbox) User(openid string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openid]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// dayCounter counts calls per day; WeChat quotas reset at midnight Beijing
// time (§6, 45009).
type dayCounter struct {
	day string
	n   int
}

var beijing = time.FixedZone("CST", 8*3600)

// inc counts one call at now and reports whether it is within limit.
func (d *dayCounter) inc(now time.Time, limit int) bool {
	day := now.In(beijing).Format(time.DateOnly)
	if d.day != day {
		d.day, d.n = day, 0
	}
	if d.n >= limit {
		return false
	}
	d.n++
	return true
}

// errmsgs are WeChat's errmsg texts (details §0, §5).
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40125: "invalid appsecret",
	40163: "code been used",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	41008: "missing code",
	41009: "missing openid",
	42001: "access_token expired",
	42002: "refresh_token expired",
	43002: "require POST method",
	44002: "empty post data",
	45009: "reach max api daily quota limit",
	47001: "data format error",
	48001: "api unauthorized",
}

// apiError builds the *wechat.Error WeChat would answer, errmsg ending with
// a request id like " rid: 655d9278-7c157f97-69055077".
func (s *Sandbox) apiError(code int) *wechat.Error {
	msg, ok := errmsgs[code]
	if !ok {
		msg = "unknown error"
	}
	return &wechat.Error{Code: code, Msg: msg + " rid: " + s.rid()}
}

// rid mimics WeChat's request ids: the time in hex, then random hex.
func (s *Sandbox) rid() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%08x-%s-%s", uint32(s.opts.Now().Unix()), hex.EncodeToString(b[:4]), hex.EncodeToString(b[4:]))
}

// writeJSON answers like api.weixin.qq.com (status 200 even for errors, §0).
func writeJSON(w http.ResponseWriter, v any) {
	writeJSONType(w, "application/json; encoding=utf-8", v)
}

// writeSNS answers like the sns/* endpoints, whose Content-Type is
// text/plain (§0): clients must parse the body regardless.
func writeSNS(w http.ResponseWriter, v any) { writeJSONType(w, "text/plain", v) }

func writeJSONType(w http.ResponseWriter, ctype string, v any) {
	if e, ok := v.(*wechat.Error); ok {
		v = map[string]any{"errcode": e.Code, "errmsg": e.Msg}
	}
	w.Header().Set("Content-Type", ctype)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// randomToken returns n random bytes as url-safe base64 (tokens, codes).
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
