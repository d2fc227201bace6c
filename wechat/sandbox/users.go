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
)

// Errors of the user-side actions (the phone).
var (
	ErrNoUser       = errors.New("sandbox: no such user")
	ErrNotFollowing = errors.New("sandbox: the user does not follow the account")
)

// The customer-service windows a user's action opens (§4 table). A new
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
	windows [numWindows]csWindow
	inbox   []Message // newest last; see deliver
	dedup   dedupIndex
}

func (m *member) follow(now time.Time) {
	m.Following, m.SubscribeTime = true, now
	m.open(winEvent, now)
}

func (m *member) unfollow() {
	m.Following = false
	m.windows = [numWindows]csWindow{} // §4: unfollowing closes every window
}

func (m *member) open(kind int, now time.Time) {
	m.windows[kind] = csWindow{until: now.Add(windowRules[kind].ttl), left: windowRules[kind].count}
}

// useWindow spends one customer-service message: 0, or 45015 when no
// window is open (or the user does not follow), 45047 when the open ones
// are used up (§4). The window closing first is spent first.
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
// closes every window (§4). Following again while following changes
// nothing.
func (s *Sandbox) SetFollowing(openid string, follow bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	switch {
	case !ok:
		return ErrNoUser
	case follow && !m.Following:
		m.follow(s.opts.Now())
	case !follow && m.Following:
		m.unfollow()
	}
	return nil
}

// Interact records that the user sent the account a message, opening the
// 5-message / 48-hour customer-service window (§4). Only followers can
// message an account.
func (s *Sandbox) Interact(openid string) error {
	_, err := s.say(openid, "")
	return err
}

// Say is Interact with the message's text, which also shows in the
// conversation on the user's phone (the text box "发消息给公众号").
func (s *Sandbox) Say(openid, text string) error {
	text = strings.TrimSpace(strings.ToValidUTF8(text, ""))
	if text == "" {
		return errors.New("sandbox: empty message")
	}
	if utf8.RuneCountInString(text) > maxUserText {
		text = string([]rune(text)[:maxUserText])
	}
	_, err := s.say(openid, text)
	return err
}

const maxUserText = 600 // runes, like WeChat's chat box

func (s *Sandbox) say(openid, text string) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users[openid]
	switch {
	case !ok:
		return Message{}, ErrNoUser
	case !m.Following:
		return Message{}, ErrNotFollowing
	}
	now := s.opts.Now()
	m.open(winMessage, now)
	if text == "" {
		return Message{}, nil
	}
	msg := Message{Kind: KindText, FromUser: true, MsgID: s.newMsgIDLocked(), Content: text, At: now}
	m.deliver(msg)
	return msg, nil
}

// userInfo is GET /cgi-bin/user/info's answer (details §4.4): since
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
	QRScene        int    `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

func infoOf(u User) userInfo {
	if !u.Following {
		return userInfo{OpenID: u.OpenID}
	}
	// The sandbox's follow button stands for scanning the account's QR
	// code (FollowURL), hence ADD_SCENE_QR_CODE without a scene.
	return userInfo{Subscribe: 1, OpenID: u.OpenID, followerInfo: &followerInfo{
		Language:       "zh_CN",
		SubscribeTime:  u.SubscribeTime.Unix(),
		TagIDList:      []int{},
		SubscribeScene: "ADD_SCENE_QR_CODE",
	}}
}

// handleUserInfo: GET /cgi-bin/user/info (§5): no openid 41009, unknown
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

const maxBatchGet = 100 // users per batchget call (§5)

// handleUserBatchGet: POST /cgi-bin/user/info/batchget (§5, details §4.4).
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
