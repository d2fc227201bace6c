package sandbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// Message is one item of a user's conversation with the account.
type Message struct {
	Kind     string // KindTemplate, KindText or KindNews
	FromUser bool   // the user's own message (Say), not one the account sent
	// MsgID is the template send's msgid; other messages get one from the
	// same sequence so that each item has an id.
	MsgID       int64
	TemplateID  string
	Title       string  // template title, or news article title
	Content     string  // text content, or news description
	Fields      []Field // template data as shown: first/remark dropped
	URL         string  // template jump link or news url
	ClientMsgID string
	At          time.Time
	// Passive: a text the app answered a push with (docs/wechat.md §7), not sent through
	// the customer-service API.
	Passive bool
}

// Message kinds.
const (
	KindTemplate = "template"
	KindText     = "text"
	KindNews     = "news"
	// KindNotice is WeChat's own grey notice in the chat, such as
	// Unavailable when the app's server failed to answer a push.
	KindNotice = "notice"
)

// Field is one line of a template message card: the label written before
// the placeholder in the template's content, and the value sent.
type Field struct{ Key, Label, Value string }

const (
	inboxCap = 200 // messages kept per user; TotalDelivered stays exact
	// dedupTTL: client_msg_id de-duplicates for 10 minutes (docs/wechat-details.md §4.2);
	// dedupCap bounds what one user's index holds within that time.
	dedupTTL      = 10 * time.Minute
	dedupCap      = 100_000
	maxCustomText = 2048 // bytes; the docs give no figure (see handleCustomSend)
)

// deliver appends msg to the inbox, keeping the last inboxCap: the slice
// is cut back only when twice that, so appending stays O(1) amortized.
func (m *member) deliver(msg Message) {
	m.inbox = append(m.inbox, msg)
	if len(m.inbox) >= 2*inboxCap {
		m.inbox = append([]Message(nil), m.inbox[len(m.inbox)-inboxCap:]...)
	}
}

func (m *member) lastMessages() []Message {
	in := m.inbox
	if len(in) > inboxCap {
		in = in[len(in)-inboxCap:]
	}
	return append([]Message(nil), in...)
}

// dedupIndex remembers one user's client_msg_ids for dedupTTL. Entries
// expire in insertion order, so each send prunes from the queue's front
// instead of scanning.
type dedupIndex struct {
	byID  map[string]dedupEntry
	queue []dedupKey
	head  int
}

type dedupEntry struct {
	msgid int64
	at    time.Time
}

type dedupKey struct {
	id    string
	msgid int64
	at    time.Time
}

func (d *dedupIndex) lookup(id string, now time.Time) (int64, bool) {
	e, ok := d.byID[id]
	if !ok || now.Sub(e.at) >= dedupTTL {
		return 0, false
	}
	return e.msgid, true
}

func (d *dedupIndex) remember(id string, msgid int64, now time.Time) {
	if d.byID == nil {
		d.byID = map[string]dedupEntry{}
	}
	for d.head < len(d.queue) && (now.Sub(d.queue[d.head].at) >= dedupTTL || len(d.queue)-d.head >= dedupCap) {
		k := d.queue[d.head]
		if e, ok := d.byID[k.id]; ok && e.msgid == k.msgid {
			delete(d.byID, k.id)
		}
		d.queue[d.head] = dedupKey{}
		d.head++
	}
	if d.head > len(d.queue)/2 && d.head > 64 {
		d.queue = append([]dedupKey(nil), d.queue[d.head:]...)
		d.head = 0
	}
	d.byID[id] = dedupEntry{msgid, now}
	d.queue = append(d.queue, dedupKey{id, msgid, now})
}

// firstMsgID starts the msgid sequence at a random 19-digit number, so a
// restarted sandbox does not reuse the msgids an app may have stored.
func firstMsgID() int64 {
	var b [8]byte
	rand.Read(b[:])
	const lo, span = 3_600_000_000_000_000_000, 100_000_000_000_000_000
	return lo + int64(binary.BigEndian.Uint64(b[:])%span)
}

func (s *Sandbox) newMsgIDLocked() int64 {
	s.nextMsgID++
	return s.nextMsgID
}

// Inbox returns the user's conversation, oldest first: the last 200
// messages, those the account sent and the user's own.
func (s *Sandbox) Inbox(openid string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	if !ok {
		return nil
	}
	return m.lastMessages()
}

// TotalDelivered counts the messages the account delivered to all users
// (template and customer-service; not client_msg_id repeats, not the
// users' own). It is exact however many the inboxes keep.
func (s *Sandbox) TotalDelivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered
}

// dataItem is one value of a template send's data; color is accepted and
// ignored (docs/wechat.md §4).
type dataItem struct {
	Value string `json:"value"`
	Color string `json:"color"`
}

// sendResult is what the locked part of a send decided.
type sendResult struct {
	code    int    // 0 on success
	msg     string // errmsg when not the usual one for code
	msgid   int64
	fresh   bool // delivered now (not a client_msg_id repeat)
	blocked bool // the user refuses the account's messages
}

// handleTemplateSend: POST /cgi-bin/message/template/send (docs/wechat.md §4, details
// docs/wechat-details.md §4.2). The checks, in order: injected faults; token (41001, 40014,
// 40001, 42001); per-second limit 45011 and daily quota 45009; body
// (44002, 47001); touser (40003); template_id (40037); data (47003); the
// user follows (43004); then client_msg_id: a repeat within 10 minutes
// answers the first send's msgid and delivers nothing. A fresh send is
// followed by its TEMPLATESENDJOBFINISH push ("failed:user block" when the
// user refuses the account's messages; then the card is not shown), or
// preceded by it with Faults.ReceiptFirst.
func (s *Sandbox) handleTemplateSend(w http.ResponseWriter, r *http.Request) {
	f := s.faults.Load()
	if s.injectFault(w, f) {
		return
	}
	token := r.URL.Query().Get("access_token")
	if token == "" {
		writeJSON(w, s.apiError(41001))
		return
	}
	// Parse and check the body against the template before locking; the
	// verdict is reported in its turn, after the token's.
	var body struct {
		ToUser      string              `json:"touser"`
		TemplateID  string              `json:"template_id"`
		URL         string              `json:"url"`
		ClientMsgID string              `json:"client_msg_id"`
		Data        map[string]dataItem `json:"data"`
	}
	data, bodyCode := readBody(r)
	if bodyCode == 0 && json.Unmarshal(data, &body) != nil {
		bodyCode = 47001
	}
	var (
		t        *Template
		fields   []Field
		tmplCode int
		tmplMsg  string
	)
	if bodyCode == 0 {
		if t = s.templates.Load().byID[body.TemplateID]; t == nil {
			tmplCode = 40037
		} else if fields, tmplMsg = t.checkData(body.Data); tmplMsg != "" {
			tmplCode = 47003
		}
	}

	var res sendResult
	s.mu.Lock()
	now := s.opts.Now()
	m := s.users[body.ToUser]
	switch {
	case s.failLocked(&res, s.tokenCodeLocked(token, now)),
		s.failLocked(&res, s.admitLocked(apiTemplateSend, f, now)),
		s.failLocked(&res, bodyCode):
	case m == nil:
		res.code = 40003
	case tmplCode != 0:
		res.code, res.msg = tmplCode, tmplMsg
	case !m.Following:
		res.code = 43004
	default:
		if body.ClientMsgID != "" {
			if id, ok := m.dedup.lookup(body.ClientMsgID, now); ok {
				res.msgid = id
				break
			}
		}
		res.msgid, res.fresh, res.blocked = s.newMsgIDLocked(), true, m.Blocked
		if body.ClientMsgID != "" {
			m.dedup.remember(body.ClientMsgID, res.msgid, now)
		}
		if res.blocked {
			// Accepted, but the user refuses it: not shown, and the
			// receipt says so (docs/wechat-details.md §4.2).
			break
		}
		m.deliver(Message{
			Kind: KindTemplate, MsgID: res.msgid, TemplateID: t.ID, Title: t.Title,
			Fields: fields, URL: body.URL, ClientMsgID: body.ClientMsgID, At: now,
		})
		s.inboxChangedLocked(body.ToUser)
		s.delivered++
		s.stats.TemplateSends++
	}
	s.mu.Unlock()

	if res.code != 0 {
		s.writeError(w, res)
		return
	}
	if res.fresh {
		switch {
		case s.opts.ServerURL == "":
		case f.ReceiptFirst:
			s.deliverPush(s.jobFinished(body.ToUser, res.msgid, res.blocked, now), nil)
		default:
			s.pushAsync(s.jobFinished(body.ToUser, res.msgid, res.blocked, now))
		}
		if s.opts.OnTemplateSent != nil {
			s.opts.OnTemplateSent(body.ToUser, res.msgid)
		}
	}
	writeJSON(w, struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		MsgID   int64  `json:"msgid"`
	}{0, "ok", res.msgid})
}

// jobFinished is the TEMPLATESENDJOBFINISH receipt of a template send,
// MsgID the send's msgid (docs/wechat-details.md §4.2).
func (s *Sandbox) jobFinished(openid string, msgid int64, blocked bool, now time.Time) wechat.Inbound {
	in := s.event(openid, "TEMPLATESENDJOBFINISH", now)
	in.TemplateMsgID, in.Status = msgid, "success"
	if blocked {
		in.Status = "failed:user block"
	}
	return in
}

// failLocked records code as the result when it is an error.
func (s *Sandbox) failLocked(res *sendResult, code int) bool {
	if code == 0 {
		return false
	}
	res.code = code
	return true
}

func (s *Sandbox) writeError(w http.ResponseWriter, res sendResult) {
	if res.msg != "" {
		writeJSON(w, s.apiErrorMsg(res.code, res.msg))
		return
	}
	writeJSON(w, s.apiError(res.code))
}

// Customer-service message types the sandbox cannot deliver: they refer to
// uploaded media, and the sandbox has no media upload, so WeChat's answer
// is 40007 invalid media_id.
var mediaMsgTypes = map[string]bool{"image": true, "voice": true, "video": true, "music": true, "mpnews": true}

// handleCustomSend: POST /cgi-bin/message/custom/send (docs/wechat.md §4, docs/wechat-details.md §4.1).
// The checks, in order: injected faults; token; 45011 / 45009; body
// (44002, 47001); touser (40003); the message: msgtype text (content
// required: 44004; at most 2048 bytes: 45002 — the docs give no limit,
// 2048 is the figure WeChat uses for text replies) or news (exactly one
// article: 44003 none, 45008 more); media types 40007, others 40008; a
// follower who refuses the account's messages 48002; then the window: not
// following or outside every window 45015, count used 45047.
func (s *Sandbox) handleCustomSend(w http.ResponseWriter, r *http.Request) {
	f := s.faults.Load()
	if s.injectFault(w, f) {
		return
	}
	token := r.URL.Query().Get("access_token")
	if token == "" {
		writeJSON(w, s.apiError(41001))
		return
	}
	var body struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    struct {
			Content string `json:"content"`
		} `json:"text"`
		News struct {
			Articles []struct {
				Title       string `json:"title"`
				Description string `json:"description"`
				URL         string `json:"url"`
				PicURL      string `json:"picurl"`
			} `json:"articles"`
		} `json:"news"`
	}
	data, bodyCode := readBody(r)
	if bodyCode == 0 && json.Unmarshal(data, &body) != nil {
		bodyCode = 47001
	}
	msg := Message{Kind: body.MsgType}
	msgCode := 0
	switch {
	case body.MsgType == KindText && body.Text.Content == "":
		msgCode = 44004
	case body.MsgType == KindText && len(body.Text.Content) > maxCustomText:
		msgCode = 45002
	case body.MsgType == KindText:
		msg.Content = body.Text.Content
	case body.MsgType == KindNews && len(body.News.Articles) == 0:
		msgCode = 44003
	case body.MsgType == KindNews && len(body.News.Articles) > 1:
		msgCode = 45008 // one article per message since 2018
	case body.MsgType == KindNews:
		a := body.News.Articles[0]
		msg.Title, msg.Content, msg.URL = a.Title, a.Description, a.URL
	case mediaMsgTypes[body.MsgType]:
		msgCode = 40007
	default:
		msgCode = 40008
	}

	var res sendResult
	s.mu.Lock()
	now := s.opts.Now()
	m := s.users[body.ToUser]
	switch {
	case s.failLocked(&res, s.tokenCodeLocked(token, now)),
		s.failLocked(&res, s.admitLocked(apiCustomSend, f, now)),
		s.failLocked(&res, bodyCode):
	case m == nil:
		res.code = 40003
	case msgCode != 0:
		res.code = msgCode
	case m.Blocked && m.Following:
		res.code = 48002 // the user turned off 接收消息 (docs/wechat-details.md §5)
	case s.failLocked(&res, m.useWindow(now)):
	default:
		msg.MsgID, msg.At = s.newMsgIDLocked(), now
		m.deliver(msg)
		s.userChangedLocked(body.ToUser) // the window's count
		s.inboxChangedLocked(body.ToUser)
		s.delivered++
		s.stats.CustomSends++
	}
	s.mu.Unlock()

	if res.code != 0 {
		s.writeError(w, res)
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}
