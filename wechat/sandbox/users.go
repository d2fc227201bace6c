package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxpush/wxpush/wechat"
)

// Errors of the user-side actions (the phone).
var (
	ErrNoUser       = errors.New("sandbox: no such user")
	ErrNotFollowing = errors.New("sandbox: the user does not follow the account")
)

// The customer-service windows a user's action opens (docs/wechat.md §4 table). A new
// action of the same kind replaces its window (fresh count and deadline).
const (
	winMessage = iota // the user sent a message: 5 messages, 48 h
	winEvent          // follow, scan or menu click: 3 messages, 1 min
	numWindows
)

var windowRules = [numWindows]struct {
	count int
	ttl   time.Duration
}{
	winMessage: {5, 48 * time.Hour},
	winEvent:   {3, time.Minute},
}

type csWindow struct {
	until time.Time
	left  int
}

// member is a user with the state the sandbox keeps about them.
type member struct {
	User
	seq     int // creation order
	windows [numWindows]csWindow
	inbox   []Message // newest last; see deliver
	dedup   dedupIndex
	// Saved message records (persist.go): their msgids, oldest first, and
	// the highest msgid saved; inbox messages above it are not saved yet.
	savedMsgs    []int64
	savedThrough int64
}

func (m *member) follow(now time.Time) {
	m.Following, m.SubscribeTime = true, now
	m.QRScene, m.QRSceneStr = 0, ""
	m.open(winEvent, now)
}

func (m *member) unfollow() {
	m.Following = false
	m.windows = [numWindows]csWindow{} // docs/wechat.md §4: unfollowing closes every window
}

func (m *member) open(kind int, now time.Time) {
	m.windows[kind] = csWindow{until: now.Add(windowRules[kind].ttl), left: windowRules[kind].count}
}

// useWindow spends one customer-service message: 0, or 45015 when no
// window is open (or the user does not follow), 45047 when the open ones
// are used up (docs/wechat.md §4). The window closing first is spent first.
func (m *member) useWindow(now time.Time) int {
	if !m.Following {
		return 45015
	}
	var best *csWindow
	open := false
	for i := range m.windows {
		w := &m.windows[i]
		if !now.Before(w.until) {
			continue
		}
		open = true
		if w.left > 0 && (best == nil || w.until.Before(best.until)) {
			best = w
		}
	}
	switch {
	case !open:
		return 45015
	case best == nil:
		return 45047
	}
	best.left--
	return 0
}

// windowSummary describes the open windows for the phone page: messages
// left and until when ("" when none is open).
func (m *member) windowSummary(now time.Time) (left int, until time.Time) {
	for _, w := range m.windows {
		if now.Before(w.until) {
			left += w.left
			if w.until.After(until) {
				until = w.until
			}
		}
	}
	return left, until
}

// SetFollowing makes the user follow or unfollow the account. Following
// opens the 3-message / 1-minute customer-service window; unfollowing
// closes every window (docs/wechat.md §4). A change is pushed to the app's server URL as
// a subscribe (without EventKey: a plain follow) or unsubscribe event
// (docs/wechat.md §7); following again while following changes nothing.
func (s *Sandbox) SetFollowing(openid string, follow bool) error {
	_, err := s.setFollowing(openid, follow)
	return err
}

// setFollowing is SetFollowing; the channel closes when the push's first
// attempt is answered (at once when nothing is pushed).
func (s *Sandbox) setFollowing(openid string, follow bool) (<-chan struct{}, error) {
	s.mu.Lock()
	m, ok := s.users[openid]
	now := s.opts.Now()
	var in wechat.Inbound
	switch {
	case !ok:
		s.mu.Unlock()
		return nil, ErrNoUser
	case follow && !m.Following:
		m.follow(now)
		s.userChangedLocked(openid)
		in = s.event(openid, "subscribe", now)
	case !follow && m.Following:
		m.unfollow()
		s.userChangedLocked(openid)
		in = s.event(openid, "unsubscribe", now)
	default:
		s.mu.Unlock()
		return closedChan, nil
	}
	s.mu.Unlock()
	return s.pushAsync(in), nil
}

// SetBlocked sets whether the user refuses the account's messages (the
// phone's 拒收消息, "接收消息" off): template sends still answer ok but are
// not shown and their TEMPLATESENDJOBFINISH says "failed:user block";
// customer-service sends answer 48002 (docs/wechat-details.md §4.2, docs/wechat.md §5).
func (s *Sandbox) SetBlocked(openid string, blocked bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	if !ok {
		return ErrNoUser
	}
	m.Blocked = blocked
	s.userChangedLocked(openid)
	return nil
}

// Interact records that the user sent the account a message, opening the
// 5-message / 48-hour customer-service window (docs/wechat.md §4). Only followers can
// message an account. Nothing is pushed: there is no message to push.
func (s *Sandbox) Interact(openid string) error {
	_, _, err := s.say(openid, "")
	return err
}

// Say is Interact with the message's text, which also shows in the
// conversation on the user's phone (the text box "发消息给公众号") and is
// pushed to the app's server URL as a text message (docs/wechat.md §7).
func (s *Sandbox) Say(openid, text string) error {
	_, err := s.sayText(openid, text)
	return err
}

var errEmptyText = errors.New("sandbox: empty message")

// sayText is Say; the channel closes when the push's first attempt is
// answered.
func (s *Sandbox) sayText(openid, text string) (<-chan struct{}, error) {
	text = strings.TrimSpace(strings.ToValidUTF8(text, ""))
	if text == "" {
		return nil, errEmptyText
	}
	if utf8.RuneCountInString(text) > maxUserText {
		text = string([]rune(text)[:maxUserText])
	}
	_, in, err := s.say(openid, text)
	if err != nil {
		return nil, err
	}
	return s.pushAsync(in), nil
}

const maxUserText = 600 // runes, like WeChat's chat box

func (s *Sandbox) say(openid, text string) (Message, wechat.Inbound, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	switch {
	case !ok:
		return Message{}, wechat.Inbound{}, ErrNoUser
	case !m.Following:
		return Message{}, wechat.Inbound{}, ErrNotFollowing
	}
	now := s.opts.Now()
	m.open(winMessage, now)
	s.userChangedLocked(openid)
	if text == "" {
		return Message{}, wechat.Inbound{}, nil
	}
	msg := Message{Kind: KindText, FromUser: true, MsgID: s.newMsgIDLocked(), Content: text, At: now}
	m.deliver(msg)
	s.inboxChangedLocked(openid)
	// The message's id in the conversation is its MsgId: unique, 64-bit.
	in := wechat.Inbound{
		ToUserName: s.accountID, FromUserName: openid, CreateTime: now.Unix(),
		MsgType: "text", Content: text, MsgID: msg.MsgID,
	}
	return msg, in, nil
}

// userInfo is GET /cgi-bin/user/info's answer (docs/wechat-details.md §4.4): since
// 2021-12-27 no nickname or avatar; a non-follower gets subscribe and
// openid only (followerInfo nil).
type userInfo struct {
	Subscribe int    `json:"subscribe"`
	OpenID    string `json:"openid"`
	*followerInfo
}

type followerInfo struct {
	Language       string `json:"language"`
	SubscribeTime  int64  `json:"subscribe_time"`
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"`
	TagIDList      []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene"`
	QRScene        int64  `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

func infoOf(u User) userInfo {
	if !u.Following {
		return userInfo{OpenID: u.OpenID}
	}
	// The sandbox's follow button stands for scanning the account's QR
	// code (FollowURL), hence ADD_SCENE_QR_CODE without a scene; following
	// from a parameterized code reports its scene (docs/wechat-details.md §3.2).
	return userInfo{Subscribe: 1, OpenID: u.OpenID, followerInfo: &followerInfo{
		Language:       "zh_CN",
		SubscribeTime:  u.SubscribeTime.Unix(),
		TagIDList:      []int{},
		SubscribeScene: "ADD_SCENE_QR_CODE",
		QRScene:        u.QRScene,
		QRSceneStr:     u.QRSceneStr,
	}}
}

// handleUserInfo: GET /cgi-bin/user/info (docs/wechat.md §5): no openid 41009, unknown
// 40003.
func (s *Sandbox) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	if e := s.checkAccessToken(r); e != nil {
		writeJSON(w, e)
		return
	}
	openid := r.URL.Query().Get("openid")
	if openid == "" {
		writeJSON(w, s.apiError(41009))
		return
	}
	u, ok := s.User(openid)
	if !ok {
		writeJSON(w, s.apiError(40003))
		return
	}
	writeJSON(w, infoOf(u))
}

const maxBatchGet = 100 // users per batchget call (docs/wechat.md §5)

// handleUserBatchGet: POST /cgi-bin/user/info/batchget (docs/wechat.md §5, docs/wechat-details.md §4.4).
// An empty list or more than 100 → 40032 (invalid openid list size; the
// docs name no code for it), any unknown openid → 40003 for the call.
func (s *Sandbox) handleUserBatchGet(w http.ResponseWriter, r *http.Request) {
	if e := s.checkAccessToken(r); e != nil {
		writeJSON(w, e)
		return
	}
	data, code := readBody(r)
	var body struct {
		UserList []struct {
			OpenID string `json:"openid"`
			Lang   string `json:"lang"`
		} `json:"user_list"`
	}
	if code == 0 && json.Unmarshal(data, &body) != nil {
		code = 47001
	}
	if code == 0 && (len(body.UserList) == 0 || len(body.UserList) > maxBatchGet) {
		code = 40032
	}
	if code != 0 {
		writeJSON(w, s.apiError(code))
		return
	}
	list := make([]userInfo, 0, len(body.UserList))
	s.mu.Lock()
	for _, q := range body.UserList {
		m, ok := s.users[q.OpenID]
		if !ok {
			list = nil
			break
		}
		list = append(list, infoOf(m.User))
	}
	s.mu.Unlock()
	if list == nil {
		writeJSON(w, s.apiError(40003))
		return
	}
	writeJSON(w, map[string][]userInfo{"user_info_list": list})
}

const maxBody = 1 << 20

// readBody reads a POST body: 0, or 44002 when it is empty, 47001 when it
// is unreadable or over 1 MiB.
func readBody(r *http.Request) ([]byte, int) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	switch {
	case err != nil || len(data) > maxBody:
		return nil, 47001
	case len(bytes.TrimSpace(data)) == 0:
		return nil, 44002
	}
	return data, 0
}
