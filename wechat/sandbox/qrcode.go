package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxpush/wxpush/wechat"
)

// Parameterized QR codes (docs/wechat.md §3, docs/wechat-details.md §3.1).
const (
	qrDefaultExpire = 60 * time.Second      // expire_seconds omitted
	qrMaxExpire     = 2592000 * time.Second // 30 days; larger values are clamped
	qrMaxPermanent  = 100_000               // QR_LIMIT_SCENE scene_id range 1..100000
	qrMaxSceneStr   = 64                    // scene_str bytes
	qrKeepExpired   = 24 * time.Hour        // expired codes still answer 「二维码已过期」
)

// qrCode is one parameterized QR code. Its id is the last segment of the
// url the create call answers (what the app renders as the QR); scanning
// is GET /q/{id}.
type qrCode struct {
	id, ticket string
	scene      string    // scene_id in decimal, or scene_str: the EventKey value
	sceneID    int64     // 0 for string scenes
	str        bool      // a QR_STR_SCENE / QR_LIMIT_STR_SCENE code
	expires    time.Time // zero for permanent codes
}

func (q *qrCode) expired(now time.Time) bool { return !q.expires.IsZero() && !now.Before(q.expires) }

// qrCreateBody is POST /cgi-bin/qrcode/create's body (docs/wechat-details.md §3.1).
type qrCreateBody struct {
	ExpireSeconds *int64 `json:"expire_seconds"`
	ActionName    string `json:"action_name"`
	ActionInfo    struct {
		Scene struct {
			SceneID  *int64 `json:"scene_id"`
			SceneStr string `json:"scene_str"`
		} `json:"scene"`
	} `json:"action_info"`
}

// qrCreateJSON is the answer; permanent codes have no expire_seconds.
type qrCreateJSON struct {
	Ticket        string `json:"ticket"`
	ExpireSeconds int64  `json:"expire_seconds,omitempty"`
	URL           string `json:"url"`
}

// errQRArgs: the docs name no error code for bad qrcode/create arguments;
// the sandbox answers 40097 "invalid args", WeChat's generic code for a
// parameter it rejects, with the field named in errmsg like 47003 does.
const errQRArgs = 40097

// parseQRCreate validates a create body as docs/wechat-details.md §3.1 states it: the four
// action names; temporary codes' expire_seconds default 60, clamped to 30
// days, negative rejected; scene_id for temporary codes a non-zero 32-bit
// number, for permanent ones 1..100000; scene_str 1–64 bytes. An omitted
// scene_id (or a missing "scene" wrapper) is accepted as scene 0, the
// field-observed pitfall whose pushes carry EventKey qrscene_0 / 0.
func parseQRCreate(b qrCreateBody) (q qrCode, expire time.Duration, msg string) {
	temporary, str := false, false
	switch b.ActionName {
	case "QR_SCENE":
		temporary = true
	case "QR_STR_SCENE":
		temporary, str = true, true
	case "QR_LIMIT_SCENE":
	case "QR_LIMIT_STR_SCENE":
		str = true
	case "":
		return q, 0, "invalid args action_name is empty"
	default:
		return q, 0, "invalid args action_name invalid"
	}
	if temporary {
		expire = qrDefaultExpire
		if e := b.ExpireSeconds; e != nil {
			switch {
			case *e < 0:
				return q, 0, "invalid args expire_seconds invalid"
			case *e > int64(qrMaxExpire/time.Second):
				expire = qrMaxExpire
			case *e > 0:
				expire = time.Duration(*e) * time.Second
			}
		}
	}
	sc := b.ActionInfo.Scene
	if str {
		if n := len(sc.SceneStr); n < 1 || n > qrMaxSceneStr {
			return q, 0, "invalid args scene_str length must be 1-64"
		}
		q.scene, q.str = sc.SceneStr, true
		return q, expire, ""
	}
	if sc.SceneID != nil {
		q.sceneID = *sc.SceneID
	}
	switch {
	case temporary && (q.sceneID < 0 || q.sceneID > 1<<32-1):
		return q, 0, "invalid args scene_id invalid"
	case !temporary && (q.sceneID < 0 || q.sceneID > qrMaxPermanent):
		return q, 0, "invalid args scene_id must be 1-100000"
	}
	q.scene = strconv.FormatInt(q.sceneID, 10)
	return q, expire, ""
}

// handleQRCreate: POST /cgi-bin/qrcode/create (docs/wechat.md §3, docs/wechat-details.md §3.1). Token
// first (41001, 40014, 40001, 42001), then the body (44002, 47001), then
// the arguments (40097). A permanent code for a scene that already has one
// answers the same ticket and url.
func (s *Sandbox) handleQRCreate(w http.ResponseWriter, r *http.Request) {
	if e := s.checkAccessToken(r); e != nil {
		writeJSON(w, e)
		return
	}
	data, code := readBody(r)
	var body qrCreateBody
	if code == 0 && json.Unmarshal(data, &body) != nil {
		code = 47001
	}
	if code != 0 {
		writeJSON(w, s.apiError(code))
		return
	}
	q, expire, msg := parseQRCreate(body)
	if msg != "" {
		writeJSON(w, s.apiErrorMsg(errQRArgs, msg))
		return
	}
	c := s.createQR(q, expire)
	out := qrCreateJSON{Ticket: c.ticket, URL: absoluteURL(r, s.opts.PathPrefix+"/q/"+c.id)}
	if expire > 0 {
		out.ExpireSeconds = int64(expire / time.Second)
	}
	writeJSON(w, out)
}

// createQR stores a new code (or finds the permanent one for the scene).
func (s *Sandbox) createQR(q qrCode, expire time.Duration) *qrCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.QRCodesCreated++
	now := s.opts.Now()
	permKey := ""
	if expire == 0 {
		permKey = "i" + q.scene
		if q.str {
			permKey = "s" + q.scene
		}
		if c, ok := s.permQR[permKey]; ok {
			return c
		}
	}
	s.gcQRLocked(now)
	c := &qrCode{id: randomToken(16), scene: q.scene, sceneID: q.sceneID, str: q.str}
	// Real tickets are base64 of a binary record that embeds the url; the
	// sandbox's are base64 too, so apps must URL-escape them likewise.
	c.ticket = base64.StdEncoding.EncodeToString([]byte("\x81\x01sandbox/q/" + c.id + "\x02\x04"))
	if expire > 0 {
		c.expires = now.Add(expire)
	} else {
		s.permQR[permKey] = c
	}
	s.qrcodes[c.id] = c
	s.qrChangedLocked(c.id)
	return c
}

// gcQRLocked forgets temporary codes expired for a day, sweeping only when
// the map has doubled since the last sweep so creating stays O(1)
// amortized.
func (s *Sandbox) gcQRLocked(now time.Time) {
	if len(s.qrcodes) < s.qrSweepAt {
		return
	}
	for id, c := range s.qrcodes {
		if !c.expires.IsZero() && now.Sub(c.expires) > qrKeepExpired {
			delete(s.qrcodes, id)
			s.qrChangedLocked(id)
		}
	}
	s.qrSweepAt = max(1024, 2*len(s.qrcodes))
}

// qrByID returns a code and whether it has expired.
func (s *Sandbox) qrByID(id string) (qrCode, bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.qrcodes[id]
	if !ok {
		return qrCode{}, false, false
	}
	return *c, true, c.expired(s.opts.Now())
}

// Errors of scanning.
var (
	ErrNoQRCode  = errors.New("sandbox: no such QR code")
	ErrQRExpired = errors.New("sandbox: the QR code has expired")
)

// qrID extracts the code id from what the app rendered: the url answered by
// qrcode/create, or the bare id.
func qrID(qrURL string) string {
	if u, err := url.Parse(qrURL); err == nil && u.Path != "" {
		qrURL = u.Path
	}
	return qrURL[strings.LastIndexByte(qrURL, '/')+1:]
}

// Scan is the user scanning a parameterized QR code (the url qrcode/create
// answered) and, if they do not follow yet, tapping 关注公众号 on the
// account's profile: a non-follower follows and the app is pushed
// subscribe with EventKey qrscene_<scene> and the Ticket; a follower
// triggers SCAN with EventKey <scene> (docs/wechat.md §3, docs/wechat-details.md §3.2). Either opens the
// 3-message / 1-minute customer-service window. Pushes are asynchronous.
func (s *Sandbox) Scan(openid, qrURL string) error {
	_, err := s.scan(openid, qrID(qrURL), true)
	return err
}

// scan applies a scan by openid of code id. With follow false a
// non-follower only looks at the profile page: nothing happens and
// ErrNotFollowing is returned. The channel closes when the push's first
// attempt is answered.
func (s *Sandbox) scan(openid, id string, follow bool) (<-chan struct{}, error) {
	s.mu.Lock()
	now := s.opts.Now()
	c, ok := s.qrcodes[id]
	m := s.users[openid]
	var in wechat.Inbound
	switch {
	case !ok:
		s.mu.Unlock()
		return nil, ErrNoQRCode
	case c.expired(now):
		s.mu.Unlock()
		return nil, ErrQRExpired
	case m == nil:
		s.mu.Unlock()
		return nil, ErrNoUser
	case m.Following:
		m.open(winEvent, now)
		s.userChangedLocked(openid)
		in = s.event(openid, "SCAN", now)
		in.EventKey = c.scene
	case !follow:
		s.mu.Unlock()
		return nil, ErrNotFollowing
	default:
		m.follow(now)
		if c.str {
			m.QRSceneStr = c.scene
		} else {
			m.QRScene = c.sceneID
		}
		s.userChangedLocked(openid)
		in = s.event(openid, "subscribe", now)
		in.EventKey = "qrscene_" + c.scene
	}
	in.Ticket = c.ticket
	s.mu.Unlock()
	return s.pushAsync(in), nil
}
