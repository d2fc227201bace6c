package handlers

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/views"
)

// A topic's own page, /t/{slug}: what its link and QR code open. Signed in
// to the site, the user subscribes with one tap. Opened in WeChat's
// in-app browser without a session, the page first asks WeChat who it is
// (silent web authorization, snsapi_base, back at /t/{slug}/wechat), then
// offers the same one tap to the bound account. The detail page's
// 退订「…」 links here too.

// ticketTTL is how long an identification by WeChat lets the page's
// button act for that user.
const ticketTTL = 15 * time.Minute

// topicTickets are kept in memory, not signed with a key kept in the
// database (a key there would be a master key to anyone who reads the
// file): a random ticket names its user until it expires. A restart
// forgets them; the page then asks WeChat again.
type topicTickets struct {
	mu      sync.Mutex
	tickets map[[32]byte]topicTicket // by SHA-256 of the ticket
}

type topicTicket struct {
	userID  int64
	expires time.Time
}

// maxTopicTickets bounds the map; past it expired tickets go first, then all.
const maxTopicTickets = 10000

// issueTicket records "this browser is user u's WeChat", for the page's form.
func (s *Server) issueTicket(u store.User) (string, error) {
	ticket := store.RandomToken(32)
	now := s.Now()
	t := s.topicTickets
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tickets == nil {
		t.tickets = map[[32]byte]topicTicket{}
	}
	if len(t.tickets) >= maxTopicTickets {
		for k, v := range t.tickets {
			if now.After(v.expires) {
				delete(t.tickets, k)
			}
		}
		if len(t.tickets) >= maxTopicTickets {
			clear(t.tickets)
		}
	}
	t.tickets[sha256.Sum256([]byte(ticket))] = topicTicket{userID: u.ID, expires: now.Add(ticketTTL)}
	return ticket, nil
}

// ticketUser returns the user a ticket names, if it is known and fresh.
func (s *Server) ticketUser(ctx context.Context, ticket string) (store.User, bool) {
	if ticket == "" || len(ticket) > 64 {
		return store.User{}, false
	}
	t := s.topicTickets
	t.mu.Lock()
	v, ok := t.tickets[sha256.Sum256([]byte(ticket))]
	t.mu.Unlock()
	if !ok || s.Now().After(v.expires) {
		return store.User{}, false
	}
	u, err := s.Store.UserByID(ctx, v.userID)
	return u, err == nil && !u.Disabled()
}

// inWeChat reports whether the page is open in WeChat's in-app browser
// (its user agent says MicroMessenger), or — in sandbox mode — in the
// simulated phone's browser frame, which marks itself with a cookie.
func (s *Server) inWeChat(r *http.Request) bool {
	if strings.Contains(r.UserAgent(), "MicroMessenger") {
		return true
	}
	if s.Config.InAppCookie == "" {
		return false
	}
	// Browsers send Sec-Fetch-Dest only to trustworthy origins; without
	// it, the cookie alone decides.
	if dest := r.Header.Get("Sec-Fetch-Dest"); dest != "" && dest != "iframe" {
		return false
	}
	_, err := r.Cookie(s.Config.InAppCookie)
	return err == nil
}

// topicView is the topic page for whoever is looking.
func (s *Server) topicView(ctx context.Context, t store.Topic, u *store.User, via string) (views.TopicPage, error) {
	v := views.TopicPage{Slug: t.Slug, Name: t.Name, Description: t.Description, SelfSubscribe: t.SelfSubscribe,
		SiteName: s.App.SiteName(), Sandbox: s.Config.Sandbox, Assets: s.assets(), Via: via}
	if u == nil {
		v.Login = "/login?next=" + url.QueryEscape("/t/"+t.Slug)
		return v, nil
	}
	v.User = u.Name
	in, err := s.App.IsSubscribed(ctx, t, *u)
	if err != nil {
		return v, err
	}
	v.Subscribed, v.CanSubscribe = in, t.SelfSubscribe || u.IsAdmin
	if via == "wechat" {
		if v.Ticket, err = s.issueTicket(*u); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (s *Server) renderTopic(w http.ResponseWriter, r *http.Request, status int, v views.TopicPage) {
	readerHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.TopicPageView(v))
}

// topicPage: GET /t/{slug}.
func (s *Server) topicPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	readerHeaders(w)
	t, err := s.App.Topic(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	if u, err := s.currentUser(r); err == nil {
		v, err := s.topicView(ctx, t, &u, "site")
		if err != nil {
			return err
		}
		s.renderTopic(w, r, http.StatusOK, v)
		return nil
	}
	if s.inWeChat(r) && r.URL.Query().Get("manual") == "" {
		http.Redirect(w, r, s.App.TopicAuthorizeURL(t.Slug), http.StatusFound)
		return nil
	}
	v, err := s.topicView(ctx, t, nil, "")
	if err != nil {
		return err
	}
	v.WeChatURL = s.App.TopicAuthorizeURL(t.Slug)
	s.renderTopic(w, r, http.StatusOK, v)
	return nil
}

// topicWeChat: GET /t/{slug}/wechat, where WeChat's web authorization
// comes back with a code naming the phone's WeChat user.
func (s *Server) topicWeChat(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	w.Header().Set("Referrer-Policy", "no-referrer")
	t, err := s.App.Topic(ctx, r.PathValue("slug"))
	if err != nil {
		readerHeaders(w)
		return err
	}
	u, err := s.App.WeChatUser(ctx, r.URL.Query().Get("code"))
	if se := service.AsError(err); err != nil && se.Code != service.EInternal {
		v, verr := s.topicView(ctx, t, nil, "")
		if verr != nil {
			return verr
		}
		s.logError(w, r, err)
		v.Problem = se.Message
		v.NotBound = se.Reason == "not_bound"
		s.renderTopic(w, r, asError(err).Status, v)
		return nil
	}
	if err != nil {
		return err
	}
	v, err := s.topicView(ctx, t, &u, "wechat")
	if err != nil {
		return err
	}
	s.renderTopic(w, r, http.StatusOK, v)
	return nil
}

// topicAction: POST /t/{slug}, the page's (and the account page's)
// subscribe and unsubscribe buttons. Who acts: the signed-in user, or the
// WeChat user a ticket names.
func (s *Server) topicAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	slug := r.PathValue("slug")
	var u store.User
	by := service.Actor{}
	via := "site"
	if cu, err := s.currentUser(r); err == nil {
		u, by = cu, service.UserActor(cu)
	} else if tu, ok := s.ticketUser(ctx, r.PostFormValue("ticket")); ok {
		u, by, via = tu, service.WeChatActor(tu), "wechat"
	} else {
		readerHeaders(w)
		return errorf(http.StatusUnauthorized, "需要重新打开", "页面已过期或没有登录：请重新打开主题链接。")
	}
	var err error
	var flash string
	switch r.PostFormValue("action") {
	case "subscribe":
		var t store.Topic
		t, _, err = s.App.Subscribe(ctx, by, slug, u)
		flash = "已订阅「" + t.Name + "」。"
	case "unsubscribe":
		var t store.Topic
		t, _, err = s.App.Unsubscribe(ctx, by, slug, u)
		flash = "已退订「" + t.Name + "」，不会再收到它的消息。"
	default:
		return errorf(http.StatusBadRequest, "参数错误", "action 只能是 subscribe 或 unsubscribe。")
	}
	if err != nil {
		readerHeaders(w)
		return err
	}
	if r.PostFormValue("next") == "/" && via == "site" {
		http.Redirect(w, r, "/?done=topic#topics", http.StatusSeeOther)
		return nil
	}
	t, err := s.App.Topic(ctx, slug)
	if err != nil {
		return err
	}
	v, err := s.topicView(ctx, t, &u, via)
	if err != nil {
		return err
	}
	v.Flash = flash
	s.renderTopic(w, r, http.StatusOK, v)
	return nil
}

// accountTopics lists the topics on the account page.
func (s *Server) accountTopics(ctx context.Context, u store.User) ([]views.AccountTopic, error) {
	ts, err := s.App.UserTopics(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]views.AccountTopic, len(ts))
	for i, t := range ts {
		out[i] = views.AccountTopic{Slug: t.Slug, Name: t.Name, Description: t.Description, Subscribed: t.Subscribed, CanSubscribe: t.CanSubscribe}
	}
	return out, nil
}
