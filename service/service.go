// Package service holds wxpush's use cases: the product's rules. Sending
// (who may receive what, how a send is validated, recorded and audited),
// binding, the effects of WeChat's pushes, template sync, accounts and
// sign-up policy live here once, and every adapter — the dashboard's
// pages, the JSON API, personal push URLs, the CLI and the WeChat server
// endpoint — parses its input, calls one method and renders the result.
//
// Imports point one way: service uses store, wechat and outbox; nothing
// here knows about HTTP, templ or flags.
package service

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/wxpush/wxpush/outbox"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// Outbox is what the rules need of the delivery engine. *outbox.Outbox
// implements it; the CLI, which only queues, passes nil.
type Outbox interface {
	Notify()
	Resume(ctx context.Context, kind string) error
	Paused() []outbox.Pause
}

// Config is the part of the configuration the rules depend on.
type Config struct {
	BaseURL    *url.URL      // public URL of the site (links in replies, OAuth redirect)
	BindTTL    time.Duration // lifetime of a binding code [10m]
	BindMode   string        // auto, qrcode or oauth [auto]
	OAuthScope string        // snsapi_userinfo or snsapi_base [snsapi_userinfo]
	AutoReply  string        // passive reply to other text messages; "" for none
	SiteName   string        // how pages name the site [BaseURL's host]
	// MaxBacklog: past this many queued deliveries, sends from the API and
	// personal push URLs are refused (EUnavailable, "backlog_full") rather
	// than accepted to wait for hours; 0 = no limit. The dashboard and the
	// CLI, run by the people who see the backlog, are not refused.
	MaxBacklog int
}

// Deps are the service's collaborators. Store is required; the CLI runs
// without WeChat and the outbox.
type Deps struct {
	Store  *store.Store
	WeChat *wechat.Client
	Tokens *wechat.TokenManager
	Outbox Outbox
	Log    *slog.Logger
	Now    func() time.Time
}

// Service carries out wxpush's use cases.
type Service struct {
	store  *store.Store
	wx     *wechat.Client
	tokens *wechat.TokenManager
	outbox Outbox
	log    *slog.Logger
	now    func() time.Time
	cfg    Config

	backlog    backlogCache
	bindCodes  liveBindCodes
	pwAttempts attempts // password changes per user

	// beforeAccountChange, in tests, runs between an admin action's read
	// of its target and the store's transaction.
	beforeAccountChange func()

	// beforeEnqueue, in tests, runs between a send's checks and its
	// commit, to force a concurrent writer into that gap.
	beforeEnqueue func()
}

// New returns a Service with defaults filled in.
func New(d Deps, cfg Config) *Service {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.BindTTL <= 0 {
		cfg.BindTTL = 10 * time.Minute
	}
	if cfg.BindMode == "" {
		cfg.BindMode = "auto"
	}
	if cfg.OAuthScope == "" {
		cfg.OAuthScope = "snsapi_userinfo"
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	}
	if cfg.SiteName == "" {
		cfg.SiteName = cfg.BaseURL.Hostname()
	}
	return &Service{store: d.Store, wx: d.WeChat, tokens: d.Tokens, outbox: d.Outbox, log: d.Log, now: d.Now, cfg: cfg}
}

// Config returns the configuration the service runs with (defaults filled).
func (s *Service) Config() Config { return s.cfg }

// Actor is who asks for a change: a signed-in user, an API token, the CLI
// or a personal push URL. It names the audit entry and the message source.
type Actor struct {
	UserID int64  // the user, when a user acts; 0 otherwise
	Name   string // as the audit log shows it: a user name, "api:TOKEN NAME", "命令行"
	Via    string // dashboard, api, cli or sendkey
}

// System is the service acting on its own (start-up template sync): not audited.
var System = Actor{}

// UserActor is a signed-in user acting through the site.
func UserActor(u store.User) Actor { return Actor{UserID: u.ID, Name: u.Name, Via: "dashboard"} }

// APIActor is a program calling the API with a token.
func APIActor(t store.APIToken) Actor { return Actor{Name: "api:" + t.Name, Via: "api"} }

// CLIActor is an operator at the command line.
var CLIActor = Actor{Name: "命令行", Via: "cli"}

// audit records an action; a failure to record is logged, not fatal (the
// action itself happened).
func (s *Service) audit(ctx context.Context, by Actor, action, target, detail string) {
	if by.Name == "" {
		return
	}
	if err := s.store.Audit(ctx, store.AuditEntry{ActorID: by.UserID, Actor: by.Name, Action: action, Target: target, Detail: detail}); err != nil {
		s.log.Error("audit", "action", action, "err", err)
	}
}

func (s *Service) notify() {
	if s.outbox != nil {
		s.outbox.Notify()
	}
}

// Paused lists the message kinds whose sending WeChat's daily quota stopped.
func (s *Service) Paused() []outbox.Pause {
	if s.outbox == nil {
		return nil
	}
	return s.outbox.Paused()
}

// ResumeOutbox lifts a kind's pause (an admin decided WeChat's quota is back).
func (s *Service) ResumeOutbox(ctx context.Context, by Actor, kind string) error {
	if kind != store.KindText && kind != store.KindTemplate {
		return &Error{Code: EInvalid, Message: "kind 只能是 text 或 template。", Fields: map[string]string{"kind": "只能是 text 或 template。"}}
	}
	if s.outbox == nil {
		return &Error{Code: EUnavailable, Message: "发送队列没有运行。"}
	}
	if err := s.outbox.Resume(ctx, kind); err != nil {
		return err
	}
	s.audit(ctx, by, "outbox.resume", KindLabel(kind), "")
	return nil
}

// KindLabel names a message kind for people.
func KindLabel(kind string) string {
	if kind == store.KindText {
		return "客服消息"
	}
	return "模板消息"
}

// InWindow reports whether WeChat's customer-service window is open for a
// user (docs/wechat.md, "Customer-service message"): 48 hours after their
// last message, 1 minute after a follow, scan or menu click. The
// per-window message counts are not tracked here.
func InWindow(now, lastMessage, lastEvent time.Time) bool {
	return wechat.CSWindow{LastMessage: lastMessage, LastEvent: lastEvent}.Open(now)
}
