// Package sandbox emulates the parts of the WeChat Official Account platform
// that wxpush uses, errors included, so that code passing against it works
// against real WeChat (docs/wechat.md, cited as "docs/wechat.md §N"; the emulator
// model is in docs/wechat-details.md §1.3). It is an http.Handler: the app mounts it
// under /sandbox when no real credentials are configured, and tests run it
// alone with httptest.NewServer. It also "plays the phone": simulated users
// choose and consent on the OAuth page and have a phone page of their own,
// where they follow or unfollow, message the account and read what it sent
// (template cards, customer-service bubbles). Its home page adds templates
// and sets the fault injection (Faults) tests and benchmarks use.
//
// Routes: API GET /cgi-bin/token, /cgi-bin/stable_token,
// GET /cgi-bin/get_api_domain_ip, POST /cgi-bin/message/custom/send,
// POST /cgi-bin/message/template/send,
// GET /cgi-bin/template/get_all_private_template, GET /cgi-bin/user/info,
// POST /cgi-bin/user/info/batchget, POST /cgi-bin/qrcode/create, the
// /sns/* OAuth endpoints and /connect/oauth2/authorize; pages /, /phone,
// /phone/{openid}, /q/{id} (scanning a QR code) and their POST forms
// (routes in sandbox.go). With Options.ServerURL it also plays WeChat's
// server: follows, unfollows, scans, the users' texts and template send
// receipts are pushed to the app, signed and, in safe mode, encrypted
// (push.go). With Options.Persistence its state outlives a restart, and
// its home page can reset it (persist.go).
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
	"sync/atomic"
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
	// Users are the nicknames of simulated users seeded at start (and by
	// Reset); default 张三, 李四, 王五.
	Users []string
	// Templates are added after the sample templates at start (and by
	// Reset); only their Title and Content are read.
	Templates []Template
	// NewUsersUnfollowed makes new and seeded users start as non-followers;
	// by default they follow the account from the moment they are created.
	NewUsersUnfollowed bool
	// Faults are the initial fault-injection settings (see SetFaults).
	// They are never saved: after a restart or Reset the sandbox injects
	// these again, whatever was set meanwhile.
	Faults Faults
	// Persistence, if set, keeps the sandbox's state across restarts: New
	// loads what was saved, and the sandbox saves its changes in the
	// background, a burst of them in one go (SaveDelay), never on the
	// request path. Call Close before closing what Persistence writes to.
	// Nil: the state lives in memory only.
	Persistence Persistence
	// SaveDelay: changes are saved once none came for SaveDelay, and at
	// the latest 10×SaveDelay after the first (what a crash can lose);
	// default 1 s.
	SaveDelay time.Duration
	// OnTemplateSent, if set, is called after each template message is
	// delivered (not for client_msg_id repeats), outside the sandbox's lock
	// and before the send's answer is written: start anything slow in its
	// own goroutine. (With ServerURL set the sandbox itself pushes the
	// TEMPLATESENDJOBFINISH event, docs/wechat.md §7.)
	OnTemplateSent func(openid string, msgid int64)

	// The app's server URL (docs/wechat.md §7, §8): where the sandbox, playing WeChat's
	// server, pushes messages and events. Empty: nothing is pushed.
	ServerURL   string
	ServerToken string // the Token set with the URL; signs every push
	// EncodingAESKey (43 characters), when set, encrypts pushes: the
	// account is in safe mode unless EncryptMode says otherwise.
	EncodingAESKey string
	// EncryptMode is ModePlain, ModeCompat or ModeSafe; default safe with
	// an EncodingAESKey, plain without.
	EncryptMode string
	// AccountID is the account's original id (ToUserName of pushes);
	// default "gh_" + 12 hex derived from AppID.
	AccountID string
	// PushTimeout is how long WeChat waits for the app's answer before
	// re-sending (docs/wechat.md §7); default 5 s.
	PushTimeout time.Duration
	// HTTPClient makes the pushes; default a client keeping up to
	// pushConns connections to the server open (each attempt has its own
	// PushTimeout deadline).
	HTTPClient *http.Client
}

// User is a simulated WeChat user of the account.
type User struct {
	OpenID, Nickname, HeadImgURL string
	Created                      time.Time
	Following                    bool
	SubscribeTime                time.Time // last follow; zero if never followed
	// QRScene or QRSceneStr: the parameterized QR code of the last follow
	// (user/info's qr_scene, qr_scene_str); zero for a plain follow.
	QRScene    int64
	QRSceneStr string
	// Blocked: the user refuses the account's messages (SetBlocked).
	Blocked bool
}

// Limits the sandbox enforces, as a test account (docs/wechat.md §1, docs/wechat-details.md §1.1/§1.2).
const (
	tokenDailyLimit   = 200 // /cgi-bin/token on test accounts
	forcedDailyLimit  = 20  // stable_token force_refresh
	forcedMinInterval = 30 * time.Second
	tokenGrace        = 5 * time.Minute // old token valid after a new one
	stableRotateAt    = 300 * time.Second
	refreshTokenTTL   = 30 * 24 * time.Hour
)

// Sandbox is the emulator. Its state lives in memory, saved through
// Options.Persistence when set (persist.go).
type Sandbox struct {
	opts Options
	mux  *http.ServeMux

	mu        sync.Mutex
	users     map[string]*member // by openid
	order     []string           // openids in creation order
	tokens    map[string]*accessToken
	latest    *accessToken // last /cgi-bin/token token
	stable    *accessToken // current stable_token token
	lastForce time.Time
	rival     rivalState // the other system of Faults.RivalRefreshEvery (rival.go)
	tokenDay  dayCounter
	forceDay  dayCounter
	codes     map[string]*oauthCode
	webTokens map[string]*webToken
	refreshes map[string]*refreshToken

	// Messaging (messages.go, faults.go, templates.go).
	faults    atomic.Pointer[Faults]
	templates atomic.Pointer[templateSet] // copy on write: sends read it without locking
	tmplMu    sync.Mutex                  // serializes AddTemplate
	nextMsgID int64
	delivered int // account → user messages, exact (inboxes are bounded)
	limits    [numLimitedAPIs]apiLimit
	stats     Stats // counters other than Errors, under mu

	statsMu  sync.Mutex // apiError and injected faults run with and without mu
	errors   map[int]int
	http500s int

	// Parameterized QR codes (qrcode.go), under mu.
	qrcodes   map[string]*qrCode // by id
	permQR    map[string]*qrCode // permanent codes by scene
	qrSweepAt int

	// Pushes to the app's server URL (push.go).
	accountID string
	crypter   *wechat.Crypter // nil without EncodingAESKey
	pushMu    sync.Mutex
	pushes    pushLog

	// Saving through Options.Persistence (persist.go): saveMu orders the
	// saves; the rest is under mu. What changed since the last save:
	saveMu     sync.Mutex
	dirtyUsers map[string]struct{} // users' records, by openid
	dirtyInbox map[string]struct{} // users with messages to save
	dirtyQR    map[string]struct{} // by QR code id
	dirty      int                 // rec* bits
	saveAll    bool                // the next save replaces every record
	saveTimer  *time.Timer         // the pending save, nil when none
	// When the first change the pending save waits for came (real time,
	// not Options.Now); changes counted, and as the timer last saw them.
	firstChange          time.Time
	changes, seenChanges uint64
	saveClosed           bool   // Close was called: no more saves scheduled
	saveErr              error  // the last save's failure, until one succeeds
	notice               string // why saved state was discarded at start
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
	if opts.SaveDelay <= 0 {
		opts.SaveDelay = defaultSaveDelay
	}
	s := &Sandbox{
		opts:      opts,
		users:     map[string]*member{},
		tokens:    map[string]*accessToken{},
		codes:     map[string]*oauthCode{},
		webTokens: map[string]*webToken{},
		refreshes: map[string]*refreshToken{},
		nextMsgID: firstMsgID(),
		errors:    map[int]int{},
		qrcodes:   map[string]*qrCode{},
		permQR:    map[string]*qrCode{},

		dirtyUsers: map[string]struct{}{},
		dirtyInbox: map[string]struct{}{},
		dirtyQR:    map[string]struct{}{},
	}
	if err := s.setupPush(); err != nil {
		return nil, err
	}
	s.SetFaults(opts.Faults)
	s.templates.Store(&templateSet{byID: map[string]*Template{}})
	if opts.Persistence != nil {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	if err := s.seed(); err != nil {
		return nil, err
	}
	if opts.Persistence != nil {
		s.mu.Lock()
		if s.saveAll { // first use, or the saved state was discarded
			s.touchLocked()
		}
		s.mu.Unlock()
	}
	s.routes()
	return s, nil
}

// seed adds the sample templates, Options.Templates and Options.Users that
// the sandbox does not have yet.
func (s *Sandbox) seed() error {
	for _, t := range sampleTemplates {
		if _, err := s.AddTemplate(t.title, t.content); err != nil {
			return fmt.Errorf("sandbox: sample template %q: %w", t.title, err)
		}
	}
	for _, t := range s.opts.Templates {
		if _, err := s.AddTemplate(t.Title, t.Content); err != nil {
			return fmt.Errorf("sandbox: template %q: %w", t.Title, err)
		}
	}
	for _, n := range s.opts.Users {
		s.AddUser(n)
	}
	return nil
}

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	// API (api.weixin.qq.com)
	m.HandleFunc("GET /cgi-bin/token", s.handleToken)
	m.HandleFunc("/cgi-bin/stable_token", s.handleStableToken) // any method: GET answers 43002
	m.HandleFunc("GET /cgi-bin/get_api_domain_ip", s.handleAPIDomainIP)
	m.HandleFunc("POST /cgi-bin/message/custom/send", s.handleCustomSend)
	m.HandleFunc("POST /cgi-bin/message/template/send", s.handleTemplateSend)
	m.HandleFunc("GET /cgi-bin/template/get_all_private_template", s.handleTemplates)
	m.HandleFunc("GET /cgi-bin/user/info", s.handleUserInfo)
	m.HandleFunc("POST /cgi-bin/user/info/batchget", s.handleUserBatchGet)
	m.HandleFunc("POST /cgi-bin/qrcode/create", s.handleQRCreate)
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
	m.HandleFunc("POST /templates", s.handleAddTemplate)
	m.HandleFunc("POST /faults", s.handleSetFaults)
	m.HandleFunc("POST /tokens/invalidate", s.handleInvalidateTokens)
	m.HandleFunc("POST /quota/reset", s.handleResetQuota)
	m.HandleFunc("GET /reset", s.handleResetPage)
	m.HandleFunc("POST /reset", s.handleReset)
	m.HandleFunc("GET /phone", s.handlePhones)
	m.HandleFunc("GET /phone/{openid}", s.handlePhone)
	m.HandleFunc("POST /phone/{openid}/follow", s.handleFollow)
	m.HandleFunc("POST /phone/{openid}/unfollow", s.handleUnfollow)
	m.HandleFunc("POST /phone/{openid}/say", s.handleSay)
	m.HandleFunc("POST /phone/{openid}/block", s.handleBlock)
	m.HandleFunc("GET /phone/{openid}/web", s.handleWebView)
	m.HandleFunc("POST /phone/{openid}/open", s.handleOpenLink)
	// The phone scanning a parameterized QR code (weixin.qq.com/q/…)
	m.HandleFunc("GET /q/{id}", s.handleScan)
	m.HandleFunc("POST /q/{id}", s.handleScanPost)
	m.HandleFunc("GET /avatar/{id}", s.handleAvatar)
	m.Handle("GET /assets/", assets())
	s.mux = m
}

// ServeHTTP serves the API, the OAuth page and the sandbox pages. API calls
// (/cgi-bin/…) first wait out the injected latency, holding no lock.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/cgi-bin/") {
		if !s.sleepLatency(r) {
			return // the caller gave up
		}
	}
	s.mux.ServeHTTP(w, r)
}

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
	return s.addUser(nickname, !s.opts.NewUsersUnfollowed)
}

// addUser is AddUser; a new user follows from the start if following.
func (s *Sandbox) addUser(nickname string, following bool) User {
	nickname = cleanNickname(nickname)
	openid := OpenID(s.opts.AppID, nickname)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.users[openid]; ok {
		return m.User
	}
	now := s.opts.Now()
	m := &member{seq: len(s.order), User: User{
		OpenID:     openid,
		Nickname:   nickname,
		HeadImgURL: s.opts.PathPrefix + "/avatar/" + avatarID(openid),
		Created:    now,
	}}
	if following {
		m.follow(now)
	}
	s.users[openid] = m
	s.order = append(s.order, openid)
	s.userChangedLocked(openid)
	return m.User
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
		out = append(out, s.users[id].User)
	}
	return out
}

// avatarID names a user's avatar image. Like WeChat's avatar URLs it is
// opaque: a page that shows the avatar does not show the openid.
func avatarID(openid string) string {
	sum := sha256.Sum256([]byte("avatar:" + openid))
	return hex.EncodeToString(sum[:12])
}

// userByAvatar finds the user whose avatar is id.
func (s *Sandbox) userByAvatar(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.users {
		if avatarID(m.OpenID) == id {
			return m.User, true
		}
	}
	return User{}, false
}

// User returns the simulated user with openid.
func (s *Sandbox) User(openid string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	if !ok {
		return User{}, false
	}
	return m.User, true
}

// dayCounter counts calls per day; WeChat quotas reset at midnight Beijing
// time (docs/wechat.md §6, 45009).
type dayCounter struct {
	day int // yyyymmdd in Beijing
	n   int
}

var beijing = time.FixedZone("CST", 8*3600)

// inc counts one call at now and reports whether it is within limit.
func (d *dayCounter) inc(now time.Time, limit int) bool {
	// Compare days without formatting: this runs on every message send.
	y, m, dd := now.In(beijing).Date()
	if day := y*10000 + int(m)*100 + dd; d.day != day {
		d.day, d.n = day, 0
	}
	if d.n >= limit {
		return false
	}
	d.n++
	return true
}

// errmsgs are WeChat's errmsg texts (docs/wechat-details.md §0, §5).
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40007: "invalid media_id",
	40008: "invalid message type",
	40013: "invalid appid",
	40014: "invalid access_token",
	40029: "invalid code",
	40030: "invalid refresh_token",
	40032: "invalid openid list size",
	40037: "invalid template_id",
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
	43004: "require subscribe",
	44002: "empty post data",
	44003: "empty news data",
	44004: "empty content",
	45002: "content size out of limit",
	45008: "article size out of limit",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit must slower retry next minute",
	45015: "response out of time limit or subscription is canceled",
	45047: "out of response count limit",
	47001: "data format error",
	47003: "argument invalid!",
	48001: "api unauthorized",
	48002: "api blocked: the user refuses messages from the account",
	40097: "invalid args",
}

// apiError builds the *wechat.Error WeChat would answer, errmsg ending with
// a request id like " rid: 655d9278-7c157f97-69055077".
func (s *Sandbox) apiError(code int) *wechat.Error {
	msg, ok := errmsgs[code]
	if !ok {
		msg = "unknown error"
	}
	return s.apiErrorMsg(code, msg)
}

// apiErrorMsg is apiError with a specific errmsg (47003 names the field).
// Every error built is answered, so this is where Stats counts them.
func (s *Sandbox) apiErrorMsg(code int, msg string) *wechat.Error {
	s.statsMu.Lock()
	s.errors[code]++
	s.statsMu.Unlock()
	return &wechat.Error{Code: code, Msg: msg + " rid: " + s.rid()}
}

// rid mimics WeChat's request ids: the time in hex, then random hex.
func (s *Sandbox) rid() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%08x-%s-%s", uint32(s.opts.Now().Unix()), hex.EncodeToString(b[:4]), hex.EncodeToString(b[4:]))
}

// writeJSON answers like api.weixin.qq.com (status 200 even for errors, docs/wechat.md §0).
func writeJSON(w http.ResponseWriter, v any) {
	writeJSONType(w, "application/json; encoding=utf-8", v)
}

// writeSNS answers like the sns/* endpoints, whose Content-Type is
// text/plain (docs/wechat.md §0): clients must parse the body regardless.
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
