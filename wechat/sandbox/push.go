package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// Pushes: the sandbox plays WeChat's server posting messages and events to
// the app's server URL (docs/wechat.md §7, §8, docs/wechat-details.md §6).

// Encryption modes of the account's server URL (docs/wechat.md §8).
const (
	ModePlain  = "plain"
	ModeCompat = "compat"
	ModeSafe   = "safe"
)

const (
	pushAttempts = 3 // docs/wechat.md §7: no answer within 5 s → re-sent, 3 times in all
	pushLogCap   = 500
	maxReplyBody = 1 << 20
	// maxReplyText: WeChat's limit for a text reply's Content, in bytes.
	maxReplyText = 2048
	// Unavailable is what the user sees when the app's server gave no
	// answer or a malformed one (docs/wechat-details.md §6.2).
	Unavailable = "该公众号暂时无法提供服务，请稍后再试"
)

// ErrNoServerURL: PushNow needs Options.ServerURL.
var ErrNoServerURL = errors.New("sandbox: no server URL configured")

// Push is one message or event delivered (or not) to the app's server URL.
type Push struct {
	At       time.Time // first attempt, sandbox clock
	Kind     string    // the Event (subscribe, unsubscribe, SCAN, TEMPLATESENDJOBFINISH) or the MsgType (text)
	OpenID   string
	Attempts int
	Status   int    // HTTP status of the last attempt; 0 when none came
	Reply    string // the passive reply's content; "" for "success", empty or none
	// Err is what WeChat shows the user when the app failed to answer or
	// answered something malformed (Unavailable); Detail says why.
	Err, Detail string
}

// pushLog keeps the last pushLogCap pushes, and counts pushes in flight
// for WaitPushes.
type pushLog struct {
	list     []Push // ring once full
	next     int
	inflight int
	idle     chan struct{} // closed while inflight is 0
}

// accountIDFor derives the account's original id ("gh_" + 12 hex) from the
// app id, so the same app always has the same one.
func accountIDFor(appID string) string {
	sum := sha256.Sum256([]byte("gh\x00" + appID))
	return "gh_" + hex.EncodeToString(sum[:6])
}

// AccountID is the official account's original id, the ToUserName of
// every push.
func (s *Sandbox) AccountID() string { return s.accountID }

// ServerURL, EncryptMode: the push configuration.
func (s *Sandbox) ServerURL() string   { return s.opts.ServerURL }
func (s *Sandbox) EncryptMode() string { return s.opts.EncryptMode }

// pushConns bounds the default client's connections to the server:
// pushes beyond it wait for a free one, as a sender with a connection pool
// does.
const pushConns = 32

// setupPush validates the push options and fills in their defaults.
func (s *Sandbox) setupPush() error {
	o := &s.opts
	s.accountID = o.AccountID
	if s.accountID == "" {
		s.accountID = accountIDFor(o.AppID)
	}
	if o.PushTimeout <= 0 {
		o.PushTimeout = 5 * time.Second
	}
	if o.HTTPClient == nil {
		// http.Client{} would keep 2 idle connections: a burst of pushes
		// (a TEMPLATESENDJOBFINISH per template message) would then open
		// and close a TCP connection per push.
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: pushConns,
			MaxConnsPerHost:     pushConns,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if o.ServerURL != "" {
		u, err := url.Parse(o.ServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sandbox: ServerURL %q is not an http(s) URL", o.ServerURL)
		}
	}
	switch {
	case o.EncryptMode == "" && o.EncodingAESKey != "":
		o.EncryptMode = ModeSafe
	case o.EncryptMode == "":
		o.EncryptMode = ModePlain
	case o.EncryptMode != ModePlain && o.EncryptMode != ModeCompat && o.EncryptMode != ModeSafe:
		return fmt.Errorf("sandbox: EncryptMode %q is not plain, compat or safe", o.EncryptMode)
	}
	if o.EncodingAESKey != "" {
		c, err := wechat.NewCrypter(o.ServerToken, o.EncodingAESKey, o.AppID)
		if err != nil {
			return fmt.Errorf("sandbox: EncodingAESKey: %w", err)
		}
		s.crypter = c
	} else if o.EncryptMode != ModePlain {
		return fmt.Errorf("sandbox: EncryptMode %s needs an EncodingAESKey", o.EncryptMode)
	}
	s.pushes.idle = make(chan struct{})
	close(s.pushes.idle)
	return nil
}

// eventLocked starts an event push from openid.
func (s *Sandbox) event(openid, event string, now time.Time) wechat.Inbound {
	return wechat.Inbound{
		ToUserName: s.accountID, FromUserName: openid, CreateTime: now.Unix(),
		MsgType: "event", Event: event,
	}
}

// closedChan is returned when nothing is pushed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// pushAsync delivers m in its own goroutine, holding no lock. The channel
// closes once the first attempt is answered (and a passive reply is in
// the inbox) or has failed; at once when no server URL is set or m is the
// zero Inbound.
func (s *Sandbox) pushAsync(m wechat.Inbound) <-chan struct{} {
	if s.opts.ServerURL == "" || m.FromUserName == "" {
		return closedChan
	}
	first := make(chan struct{})
	s.startPush()
	go func() {
		defer s.endPush()
		s.deliverPush(m, first)
	}()
	return first
}

func (s *Sandbox) startPush() {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	if s.pushes.inflight == 0 {
		s.pushes.idle = make(chan struct{})
	}
	s.pushes.inflight++
}

func (s *Sandbox) endPush() {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	if s.pushes.inflight--; s.pushes.inflight == 0 {
		close(s.pushes.idle)
	}
}

// WaitPushes waits until no asynchronous push is in flight (tests).
func (s *Sandbox) WaitPushes() {
	s.pushMu.Lock()
	idle := s.pushes.idle
	s.pushMu.Unlock()
	<-idle
}

// PushNow delivers m to the server URL synchronously, retries included, and
// returns the result, also recorded in Pushes. Empty ToUserName and
// CreateTime default to the account and now. The error is ErrNoServerURL,
// or describes the failure when Push.Err is set.
func (s *Sandbox) PushNow(m wechat.Inbound) (Push, error) {
	if s.opts.ServerURL == "" {
		return Push{}, ErrNoServerURL
	}
	if m.ToUserName == "" {
		m.ToUserName = s.accountID
	}
	if m.CreateTime == 0 {
		m.CreateTime = s.opts.Now().Unix()
	}
	p := s.deliverPush(m, nil)
	if p.Err != "" {
		return p, fmt.Errorf("sandbox: push %s: %s (%s)", p.Kind, p.Err, p.Detail)
	}
	return p, nil
}

// Pushes returns the last 500 pushes, oldest first.
func (s *Sandbox) Pushes() []Push {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	l := &s.pushes
	out := make([]Push, 0, len(l.list))
	if len(l.list) == pushLogCap {
		out = append(out, l.list[l.next:]...)
		return append(out, l.list[:l.next]...)
	}
	return append(out, l.list...)
}

func (s *Sandbox) logPush(p Push) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	l := &s.pushes
	if len(l.list) < pushLogCap {
		l.list = append(l.list, p)
		return
	}
	l.list[l.next] = p
	l.next = (l.next + 1) % pushLogCap
}

func pushKind(m wechat.Inbound) string {
	if m.MsgType == "event" {
		return m.Event
	}
	return m.MsgType
}

// userFacing: pushes the user caused and waits on; only their replies
// are shown, and only their failures show Unavailable in the chat.
func userFacing(m wechat.Inbound) bool {
	return m.MsgType != "event" || (m.Event != "unsubscribe" && m.Event != "TEMPLATESENDJOBFINISH")
}

// deliverPush makes up to three attempts and handles the answer; first,
// if not nil, is closed after the first attempt.
func (s *Sandbox) deliverPush(m wechat.Inbound, first chan struct{}) Push {
	p := Push{At: s.opts.Now(), Kind: pushKind(m), OpenID: m.FromUserName}
	done := func() {
		if first != nil {
			close(first)
			first = nil
		}
	}
	defer done()
	body, encrypted, err := s.pushBody(m)
	if err != nil {
		p.Err, p.Detail = Unavailable, "encrypt: "+err.Error()
		s.logPush(p)
		return p
	}
	for p.Attempts < pushAttempts {
		p.Attempts++
		status, reply, err := s.attempt(m.FromUserName, body, encrypted)
		p.Status = status
		if err != nil {
			p.Detail = err.Error()
			done()
			continue
		}
		p.Detail = ""
		s.handleReply(&p, m, reply)
		break
	}
	if p.Detail != "" && p.Err == "" { // every attempt failed
		p.Err = Unavailable
		p.Detail = fmt.Sprintf("%d 次均未应答：%s", p.Attempts, p.Detail)
	}
	if p.Err != "" && userFacing(m) {
		s.notify(m.FromUserName, p.Err)
	}
	s.logPush(p)
	return p
}

// pushBody is the XML posted: the message itself (plain), the message with
// <Encrypt> added (compat), or ToUserName and Encrypt only (safe) (docs/wechat.md §8). It
// is built once, so every attempt posts the same bytes.
func (s *Sandbox) pushBody(m wechat.Inbound) (body []byte, encrypted string, err error) {
	m.Encrypt = ""
	plain := m.XML()
	if s.opts.EncryptMode == ModePlain {
		return plain, "", nil
	}
	if encrypted, err = s.crypter.Encrypt(plain); err != nil {
		return nil, "", err
	}
	if s.opts.EncryptMode == ModeSafe {
		m = wechat.Inbound{ToUserName: m.ToUserName}
	}
	m.Encrypt = encrypted
	return m.XML(), encrypted, nil
}

// pushURL signs one attempt: signature over token, timestamp and nonce;
// with encryption also encrypt_type=aes and msg_signature over the four
// values (docs/wechat.md §7, §8). Each attempt gets its own timestamp and nonce.
func (s *Sandbox) pushURL(openid, encrypted string) string {
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	nonce := randomNonce()
	var b strings.Builder
	b.WriteString(s.opts.ServerURL)
	switch {
	case !strings.Contains(s.opts.ServerURL, "?"):
		b.WriteByte('?')
	case !strings.HasSuffix(s.opts.ServerURL, "?") && !strings.HasSuffix(s.opts.ServerURL, "&"):
		b.WriteByte('&')
	}
	b.WriteString("signature=" + wechat.Signature(s.opts.ServerToken, ts, nonce))
	b.WriteString("&timestamp=" + ts + "&nonce=" + nonce + "&openid=" + url.QueryEscape(openid))
	if s.opts.EncryptMode != ModePlain {
		b.WriteString("&encrypt_type=aes&msg_signature=" + s.crypter.Sign(ts, nonce, encrypted))
	}
	return b.String()
}

// randomNonce is a decimal number like WeChat's nonces ("415670741").
func randomNonce() string {
	var b [4]byte
	rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])%1_000_000_000+1), 10)
}

// attempt posts body once and returns the HTTP status and the answer's
// body; an error when no answer came within PushTimeout or it was not 2xx.
func (s *Sandbox) attempt(openid string, body []byte, encrypted string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.PushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.pushURL(openid, encrypted), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0")
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, fmt.Errorf("%v 内无应答", s.opts.PushTimeout)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	switch {
	case err != nil && ctx.Err() != nil:
		return resp.StatusCode, nil, fmt.Errorf("%v 内无应答", s.opts.PushTimeout)
	case err != nil:
		return resp.StatusCode, nil, err
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return resp.StatusCode, nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, reply, nil
}

// handleReply reads the passive reply (docs/wechat-details.md §6.2, docs/wechat-details.md §6.4): empty or
// "success" is nothing; otherwise a text reply to the user, encrypted in
// safe mode (either form in compat mode), shown in their chat.
func (s *Sandbox) handleReply(p *Push, m wechat.Inbound, body []byte) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || string(t) == "success" {
		return
	}
	fail := func(detail string) { p.Err, p.Detail = Unavailable, detail }
	encrypted := bytes.Contains(t, []byte("<Encrypt>"))
	switch {
	case s.opts.EncryptMode == ModeSafe && !encrypted:
		fail("安全模式下被动回复必须加密")
		return
	case s.opts.EncryptMode == ModePlain && encrypted:
		fail("明文模式下被动回复不应加密")
		return
	case encrypted:
		plain, err := s.crypter.DecryptReply(t)
		if err != nil {
			fail("解密回复失败：" + err.Error())
			return
		}
		t = plain
	}
	r, err := wechat.ParseReply(t)
	switch {
	case err != nil:
		fail("回复不是有效的 XML：" + err.Error())
		return
	case r.ToUserName != m.FromUserName:
		fail("回复的 ToUserName 不是该用户的 openid")
		return
	case r.MsgType == "transfer_customer_service":
		return // handed to the customer-service desk: nothing shown
	case r.MsgType != "text":
		fail("沙箱只能显示文本回复，MsgType=" + r.MsgType)
		return
	case r.Content == "":
		fail("文本回复的 Content 为空（无话可说时应回复 success 或空串）")
		return
	case len(r.Content) > maxReplyText:
		fail("文本回复超过 2048 字节")
		return
	}
	p.Reply = r.Content
	if userFacing(m) {
		s.deliverReply(m.FromUserName, Message{Kind: KindText, Content: r.Content, Passive: true})
	}
}

// deliverReply adds an account message (a passive reply or a notice) to a
// follower's conversation.
func (s *Sandbox) deliverReply(openid string, msg Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	if !ok || !m.Following {
		return
	}
	msg.MsgID, msg.At = s.newMsgIDLocked(), s.opts.Now()
	m.deliver(msg)
	s.inboxChangedLocked(openid)
}

// notify shows WeChat's system notice (Unavailable) in the chat.
func (s *Sandbox) notify(openid, text string) {
	s.deliverReply(openid, Message{Kind: KindNotice, Content: text})
}

// waitFirst waits, for a phone page, until the push's first attempt is
// answered so the page shows the passive reply; at most PushTimeout.
func (s *Sandbox) waitFirst(r *http.Request, first <-chan struct{}) {
	if first == nil {
		return
	}
	t := time.NewTimer(s.opts.PushTimeout + 100*time.Millisecond)
	defer t.Stop()
	select {
	case <-first:
	case <-t.C:
	case <-r.Context().Done():
	}
}
