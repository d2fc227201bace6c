package sandbox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Persistence keeps the sandbox's state across restarts (Options.Persistence).
// The state is a set of records under string keys: one per simulated user
// ("user/<openid>": follow state, customer-service windows), one per
// message of a user's last persistInbox ("msg/<openid>/<msgid>"), one per
// parameterized QR code ("qr/<id>"), and a few small ones ("tokens",
// "oauth", "templates", "counters", "meta"). A change writes only its own
// records: a broadcast to 10,000 users adds 10,000 message records, once,
// rather than rewriting the state per send. Values are JSON;
// implementations store them as given.
type Persistence interface {
	// Load returns every record stored: an empty map on first use.
	Load(ctx context.Context) (map[string][]byte, error)
	// Save applies changes in one transaction: a nil value deletes its
	// key, any other value replaces the record.
	Save(ctx context.Context, changes map[string][]byte) error
}

const (
	// stateVersion is the format of the saved records: state saved in
	// another format is discarded (the sandbox starts afresh and says so).
	stateVersion     = 1
	defaultSaveDelay = time.Second
	// maxSaveWait, in SaveDelays: how long changes that keep coming (a
	// long broadcast) may postpone their save.
	maxSaveWait = 10
	// persistInbox: messages per user kept across a restart (the phone
	// shows up to inboxCap while running). Their client_msg_ids are what
	// de-duplicates resends after a restart.
	persistInbox = 50
	// saveChunk bounds the records of one Save, so one save never holds
	// the database's write lock for long. Users and the small records are
	// written before messages, so a save cut short between chunks leaves
	// no message without its user.
	saveChunk   = 1000
	saveTimeout = 30 * time.Second
)

// Kinds of the small records, as bits of Sandbox.dirty.
const (
	recTokens    = 1 << iota // global access tokens and their daily counts
	recOAuth                 // OAuth codes, web tokens, refresh tokens
	recTemplates             // the account's templates
	recCounters              // messages delivered, message APIs' daily counts
	recAll       = recTokens | recOAuth | recTemplates | recCounters
)

// Record keys.
const (
	keyMeta      = "meta"
	keyTokens    = "tokens"
	keyOAuth     = "oauth"
	keyTemplates = "templates"
	keyCounters  = "counters"
	prefixUser   = "user/"
	prefixMsg    = "msg/"
	prefixQR     = "qr/"
)

func msgKey(openid string, msgid int64) string {
	return prefixMsg + openid + "/" + strconv.FormatInt(msgid, 10)
}

// touchLocked notes a change to save. A save runs once a SaveDelay passed
// without a change, or maxSaveWait SaveDelays after the first change it
// saves: a burst is saved once, after it. On the send path this only
// counts (no clock read).
func (s *Sandbox) touchLocked() {
	if s.saveClosed {
		return
	}
	s.changes++
	if s.saveTimer == nil {
		s.firstChange, s.seenChanges = time.Now(), s.changes
		s.saveTimer = time.AfterFunc(s.opts.SaveDelay, s.autoSave)
	}
}

// saveWait is how long a pending save still waits at now, changed telling
// whether changes came during the last wait: 0 to save now.
func saveWait(now, first time.Time, changed bool, delay time.Duration) time.Duration {
	deadline := first.Add(maxSaveWait * delay)
	if !changed || !now.Before(deadline) {
		return 0
	}
	return min(delay, deadline.Sub(now))
}

// userChangedLocked notes that a user's record must be saved.
func (s *Sandbox) userChangedLocked(openid string) {
	if s.opts.Persistence == nil {
		return
	}
	s.dirtyUsers[openid] = struct{}{}
	s.touchLocked()
}

// inboxChangedLocked notes that a user has messages to save.
func (s *Sandbox) inboxChangedLocked(openid string) {
	if s.opts.Persistence == nil {
		return
	}
	s.dirtyInbox[openid] = struct{}{}
	s.touchLocked()
}

// qrChangedLocked notes that a QR code was created or forgotten.
func (s *Sandbox) qrChangedLocked(id string) {
	if s.opts.Persistence == nil {
		return
	}
	s.dirtyQR[id] = struct{}{}
	s.touchLocked()
}

// changedLocked notes that the records of kinds (rec* bits) must be saved.
func (s *Sandbox) changedLocked(kinds int) {
	if s.opts.Persistence == nil {
		return
	}
	s.dirty |= kinds
	s.touchLocked()
}

func (s *Sandbox) autoSave() {
	s.mu.Lock()
	if s.saveTimer != nil {
		if d := saveWait(time.Now(), s.firstChange, s.changes != s.seenChanges, s.opts.SaveDelay); d > 0 {
			s.seenChanges = s.changes
			s.saveTimer.Reset(d)
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	s.Flush(ctx) // a failure is shown on the home page and retried
}

// Close saves what changed since the last save and stops saving: later
// changes stay in memory. Without Persistence it does nothing. Call it
// when the sandbox serves no more requests, before closing the database
// behind its Persistence.
func (s *Sandbox) Close() error {
	if s.opts.Persistence == nil {
		return nil
	}
	s.mu.Lock()
	s.saveClosed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	return s.Flush(ctx)
}

// Flush saves the changes not saved yet now rather than later, waiting
// for a save in progress first. Without Persistence it does nothing.
func (s *Sandbox) Flush(ctx context.Context) error {
	if s.opts.Persistence == nil {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	return s.saveLocked(ctx)
}

// saveLocked writes what changed since the last save, holding saveMu so
// saves write in the order they took the changes. The records are built
// under mu (copies) and encoded and written after it is released: sends
// never wait for the database. On failure another save is scheduled, which
// rewrites everything.
func (s *Sandbox) saveLocked(ctx context.Context) error {
	s.mu.Lock()
	c := s.takeChangesLocked()
	s.mu.Unlock()
	if len(c.recs) == 0 {
		return nil
	}
	err := s.write(ctx, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.requeueLocked(c)
		s.saveErr = err
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	s.saveErr = nil
	return nil
}

// changes are the records a save writes: the value to encode, or nil to
// delete the key. all: they replace every record saved.
type changes struct {
	all  bool
	recs map[string]any
}

// takeChangesLocked builds the records changed since the last save and
// marks them saved. A save that then fails makes the next one rewrite
// everything (requeueLocked): simpler than undoing the marks, and rare.
func (s *Sandbox) takeChangesLocked() changes {
	if s.saveTimer != nil {
		s.saveTimer.Stop()
		s.saveTimer = nil
	}
	c := changes{all: s.saveAll, recs: map[string]any{}}
	kinds := s.dirty
	if c.all {
		kinds = recAll
		c.recs[keyMeta] = savedMeta{Version: stateVersion, AppID: s.opts.AppID}
		for id, m := range s.users {
			s.dirtyUsers[id] = struct{}{}
			s.dirtyInbox[id] = struct{}{}
			m.savedMsgs, m.savedThrough = nil, 0
		}
		for id := range s.qrcodes {
			s.dirtyQR[id] = struct{}{}
		}
	}
	for id := range s.dirtyUsers {
		if m := s.users[id]; m != nil {
			c.recs[prefixUser+id] = m.saved()
		}
	}
	for id := range s.dirtyInbox {
		if m := s.users[id]; m != nil {
			m.takeMessages(c.recs)
		}
	}
	for id := range s.dirtyQR {
		var v any
		if q := s.qrcodes[id]; q != nil {
			v = savedQROf(q)
		}
		c.recs[prefixQR+id] = v
	}
	if kinds&recTokens != 0 {
		c.recs[keyTokens] = s.savedTokensLocked()
	}
	if kinds&recOAuth != 0 {
		c.recs[keyOAuth] = s.savedOAuthLocked(s.opts.Now())
	}
	if kinds&recTemplates != 0 {
		var ts []savedTemplate
		for _, t := range s.templates.Load().list {
			ts = append(ts, savedTemplate{Title: t.Title, Content: t.Content})
		}
		c.recs[keyTemplates] = ts
	}
	if kinds&recCounters != 0 {
		sc := savedCounters{Delivered: s.delivered}
		for i, l := range s.limits {
			sc.Limits[i] = l.day.saved()
		}
		c.recs[keyCounters] = sc
	}
	s.saveAll, s.dirty = false, 0
	clear(s.dirtyUsers)
	clear(s.dirtyInbox)
	clear(s.dirtyQR)
	return c
}

// takeMessages adds the records of the messages delivered since the last
// save (the last persistInbox of them), and deletes those beyond the last
// persistInbox saved. Messages never change once delivered, so the record
// shares their Fields.
func (m *member) takeMessages(recs map[string]any) {
	i := len(m.inbox)
	for i > 0 && m.inbox[i-1].MsgID > m.savedThrough {
		i--
	}
	fresh := m.inbox[i:]
	if len(fresh) == 0 {
		return
	}
	if len(fresh) > persistInbox {
		fresh = fresh[len(fresh)-persistInbox:]
	}
	for _, msg := range fresh {
		recs[msgKey(m.OpenID, msg.MsgID)] = savedMessage(msg)
		m.savedMsgs = append(m.savedMsgs, msg.MsgID)
	}
	m.savedThrough = fresh[len(fresh)-1].MsgID
	if over := len(m.savedMsgs) - persistInbox; over > 0 {
		for _, id := range m.savedMsgs[:over] {
			recs[msgKey(m.OpenID, id)] = nil
		}
		m.savedMsgs = append([]int64(nil), m.savedMsgs[over:]...)
	}
}

// requeueLocked: after a failed save the next one rewrites everything.
func (s *Sandbox) requeueLocked(changes) {
	s.saveAll = true
	s.touchLocked()
}

// write encodes the records and saves them. A full rewrite (first use,
// Reset, discarded state, after a failed save) is one Save, deleting every
// other record, so it happens entirely or not at all; changes are saved
// saveChunk at a time, users and small records before messages.
func (s *Sandbox) write(ctx context.Context, c changes) error {
	p := s.opts.Persistence
	vals := make(map[string][]byte, len(c.recs))
	for k, v := range c.recs {
		if v == nil {
			vals[k] = nil
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", k, err)
		}
		vals[k] = b
	}
	if c.all {
		old, err := p.Load(ctx)
		if err != nil {
			return err
		}
		for k := range old {
			if _, ok := vals[k]; !ok {
				vals[k] = nil
			}
		}
		return p.Save(ctx, vals)
	}
	if len(vals) <= saveChunk {
		return p.Save(ctx, vals)
	}
	keys := slices.Collect(maps.Keys(vals))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(isMsg(a), isMsg(b)), strings.Compare(a, b))
	})
	for chunk := range slices.Chunk(keys, saveChunk) {
		part := make(map[string][]byte, len(chunk))
		for _, k := range chunk {
			part[k] = vals[k]
		}
		if err := p.Save(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// isMsg is 1 for a message record's key, else 0 (the sort order of write).
func isMsg(key string) int {
	if strings.HasPrefix(key, prefixMsg) {
		return 1
	}
	return 0
}

// The records' formats. Times are absolute, so windows, tokens and codes
// expire after a restart when they would have without one.

type savedMeta struct {
	Version int    `json:"version"`
	AppID   string `json:"app_id"` // openids and template ids derive from it
}

type savedUser struct {
	Seq           int                     `json:"seq"` // creation order
	OpenID        string                  `json:"openid"`
	Nickname      string                  `json:"nickname"`
	Created       time.Time               `json:"created"`
	Following     bool                    `json:"following,omitempty"`
	SubscribeTime time.Time               `json:"subscribe_time,omitzero"`
	QRScene       int64                   `json:"qr_scene,omitempty"`
	QRSceneStr    string                  `json:"qr_scene_str,omitempty"`
	Blocked       bool                    `json:"blocked,omitempty"`
	Windows       [numWindows]savedWindow `json:"windows"`
}

type savedWindow struct {
	Until time.Time `json:"until,omitzero"`
	Left  int       `json:"left,omitempty"`
}

// savedMessage has Message's fields in Message's order, so each converts
// to the other.
type savedMessage struct {
	Kind        string    `json:"kind"`
	FromUser    bool      `json:"from_user,omitempty"`
	MsgID       int64     `json:"msgid"`
	TemplateID  string    `json:"template_id,omitempty"`
	Title       string    `json:"title,omitempty"`
	Content     string    `json:"content,omitempty"`
	Fields      []Field   `json:"fields,omitempty"`
	URL         string    `json:"url,omitempty"`
	ClientMsgID string    `json:"client_msg_id,omitempty"`
	At          time.Time `json:"at"`
	Passive     bool      `json:"passive,omitempty"`
}

type savedQR struct {
	ID      string    `json:"id"`
	Ticket  string    `json:"ticket"`
	Scene   string    `json:"scene"`
	SceneID int64     `json:"scene_id,omitempty"`
	Str     bool      `json:"str,omitempty"`
	Expires time.Time `json:"expires,omitzero"` // zero: permanent
}

type savedTokens struct {
	Tokens    []savedToken `json:"tokens"`
	Latest    string       `json:"latest,omitempty"` // last /cgi-bin/token token
	Stable    string       `json:"stable,omitempty"` // current stable_token token
	LastForce time.Time    `json:"last_force,omitzero"`
	TokenDay  savedDay     `json:"token_day"`
	ForceDay  savedDay     `json:"force_day"`
}

type savedToken struct {
	Value      string    `json:"value"`
	Expires    time.Time `json:"expires"`
	Superseded time.Time `json:"superseded,omitzero"`
}

type savedDay struct {
	Day int `json:"day"` // yyyymmdd in Beijing
	N   int `json:"n"`
}

func (d dayCounter) saved() savedDay   { return savedDay{Day: d.day, N: d.n} }
func (d savedDay) counter() dayCounter { return dayCounter{day: d.Day, n: d.N} }

type savedOAuth struct {
	Codes     []savedGrant `json:"codes,omitempty"`
	WebTokens []savedGrant `json:"web_tokens,omitempty"`
	Refreshes []savedGrant `json:"refresh_tokens,omitempty"`
}

type savedGrant struct {
	Value   string    `json:"value"`
	OpenID  string    `json:"openid"`
	Scope   string    `json:"scope"`
	Expires time.Time `json:"expires"`
	Used    bool      `json:"used,omitempty"`
}

type savedTemplate struct {
	Title   string `json:"title"`
	Content string `json:"content"`
}

type savedCounters struct {
	Delivered int                      `json:"delivered"`
	Limits    [numLimitedAPIs]savedDay `json:"limits"`
}

// saved is the user's record (their messages have their own).
func (m *member) saved() savedUser {
	u := savedUser{
		Seq: m.seq, OpenID: m.OpenID, Nickname: m.Nickname, Created: m.Created,
		Following: m.Following, SubscribeTime: m.SubscribeTime,
		QRScene: m.QRScene, QRSceneStr: m.QRSceneStr, Blocked: m.Blocked,
	}
	for i, w := range m.windows {
		u.Windows[i] = savedWindow{Until: w.until, Left: w.left}
	}
	return u
}

func savedQROf(q *qrCode) savedQR {
	return savedQR{ID: q.id, Ticket: q.ticket, Scene: q.scene, SceneID: q.sceneID, Str: q.str, Expires: q.expires}
}

func (s *Sandbox) savedTokensLocked() savedTokens {
	st := savedTokens{LastForce: s.lastForce, TokenDay: s.tokenDay.saved(), ForceDay: s.forceDay.saved()}
	for _, t := range s.tokens {
		st.Tokens = append(st.Tokens, savedToken{Value: t.value, Expires: t.expires, Superseded: t.superseded})
	}
	if s.latest != nil {
		st.Latest = s.latest.value
	}
	if s.stable != nil {
		st.Stable = s.stable.value
	}
	return st
}

// savedOAuthLocked leaves out codes that have expired (an expired code
// answers as an unknown one does); web and refresh tokens dead for a day
// are dropped as new ones are minted.
func (s *Sandbox) savedOAuthLocked(now time.Time) savedOAuth {
	var o savedOAuth
	for v, c := range s.codes {
		if now.Before(c.expires) {
			o.Codes = append(o.Codes, savedGrant{Value: v, OpenID: c.openid, Scope: c.scope, Expires: c.expires, Used: c.used})
		}
	}
	for v, t := range s.webTokens {
		o.WebTokens = append(o.WebTokens, savedGrant{Value: v, OpenID: t.openid, Scope: t.scope, Expires: t.expires})
	}
	for v, t := range s.refreshes {
		o.Refreshes = append(o.Refreshes, savedGrant{Value: v, OpenID: t.openid, Scope: t.scope, Expires: t.expires})
	}
	return o
}

// load restores the saved state into a sandbox New is building. State of
// another format or another app is discarded: the sandbox starts afresh,
// replaces it at its first save and says why on its home page. A record
// that cannot be read is an error.
func (s *Sandbox) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	recs, err := s.opts.Persistence.Load(ctx)
	if err != nil {
		return fmt.Errorf("sandbox: load saved state: %w", err)
	}
	if len(recs) == 0 {
		s.saveAll = true
		return nil
	}
	var meta savedMeta
	if raw, ok := recs[keyMeta]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return badRecord(keyMeta, err)
		}
	}
	switch {
	case meta.Version != stateVersion:
		s.saveAll = true
		s.notice = "保存的沙箱状态格式不兼容，已丢弃：沙箱从初始状态开始。"
		return nil
	case meta.AppID != s.opts.AppID:
		s.saveAll = true
		s.notice = "保存的沙箱状态属于另一个 AppID（" + meta.AppID + "），已丢弃：沙箱从初始状态开始。"
		return nil
	}
	var users []savedUser
	msgs := map[string][]Message{} // by openid
	for k, raw := range recs {
		var err error
		switch id, user := strings.CutPrefix(k, prefixUser); {
		case k == keyMeta:
		case user:
			var u savedUser
			if err = json.Unmarshal(raw, &u); err == nil && u.OpenID != id {
				err = errors.New("openid does not match the key")
			}
			users = append(users, u)
		case strings.HasPrefix(k, prefixMsg):
			var openid string
			var msg savedMessage
			if openid, err = parseMsgKey(k, raw, &msg); err == nil {
				msgs[openid] = append(msgs[openid], Message(msg))
			}
		case strings.HasPrefix(k, prefixQR):
			err = s.loadQR(strings.TrimPrefix(k, prefixQR), raw)
		case k == keyTokens:
			err = s.loadTokens(raw)
		case k == keyOAuth:
			err = s.loadOAuth(raw)
		case k == keyTemplates:
			err = s.loadTemplates(raw)
		case k == keyCounters:
			var sc savedCounters
			if err = json.Unmarshal(raw, &sc); err == nil {
				s.delivered = sc.Delivered
				for i, d := range sc.Limits {
					s.limits[i].day = d.counter()
				}
			}
		default:
			err = errors.New("unknown record")
		}
		if err != nil {
			return badRecord(k, err)
		}
	}
	slices.SortFunc(users, func(a, b savedUser) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, u := range users {
		s.restoreUser(u, msgs[u.OpenID])
		delete(msgs, u.OpenID)
	}
	if len(msgs) > 0 {
		s.saveAll = true // messages of no user (none is ever deleted): drop them
	}
	return nil
}

// parseMsgKey reads a message record: msg/<openid>/<msgid>.
func parseMsgKey(key string, raw []byte, msg *savedMessage) (string, error) {
	openid, id, ok := strings.Cut(strings.TrimPrefix(key, prefixMsg), "/")
	msgid, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || openid == "" {
		return "", errors.New("not msg/<openid>/<msgid>")
	}
	if err := json.Unmarshal(raw, msg); err != nil {
		return "", err
	}
	if msg.MsgID != msgid {
		return "", errors.New("msgid does not match the key")
	}
	return openid, nil
}

func badRecord(key string, err error) error {
	return fmt.Errorf("sandbox: saved state record %q: %w (reset the sandbox state to start afresh)", key, err)
}

// restoreUser adds a saved user and their saved messages. The msgid
// sequence goes on above every restored msgid, and client_msg_ids still
// within WeChat's 10 minutes de-duplicate again.
func (s *Sandbox) restoreUser(u savedUser, msgs []Message) {
	m := &member{seq: len(s.order), User: User{
		OpenID: u.OpenID, Nickname: u.Nickname, HeadImgURL: s.opts.PathPrefix + "/avatar/" + avatarID(u.OpenID),
		Created: u.Created, Following: u.Following, SubscribeTime: u.SubscribeTime,
		QRScene: u.QRScene, QRSceneStr: u.QRSceneStr, Blocked: u.Blocked,
	}}
	for i, w := range u.Windows {
		m.windows[i] = csWindow{until: w.Until, left: w.Left}
	}
	slices.SortFunc(msgs, func(a, b Message) int { return cmp.Compare(a.MsgID, b.MsgID) })
	if len(msgs) > persistInbox {
		msgs = msgs[len(msgs)-persistInbox:]
		s.saveAll = true // a save cut short left extra records
	}
	now := s.opts.Now()
	for _, msg := range msgs {
		m.inbox = append(m.inbox, msg)
		m.savedMsgs = append(m.savedMsgs, msg.MsgID)
		m.savedThrough = msg.MsgID
		s.nextMsgID = max(s.nextMsgID, msg.MsgID)
		if msg.Kind == KindTemplate && msg.ClientMsgID != "" && now.Sub(msg.At) < dedupTTL {
			m.dedup.remember(msg.ClientMsgID, msg.MsgID, msg.At)
		}
	}
	s.users[u.OpenID] = m
	s.order = append(s.order, u.OpenID)
}

func (s *Sandbox) loadQR(id string, raw []byte) error {
	var q savedQR
	if err := json.Unmarshal(raw, &q); err != nil {
		return err
	}
	if q.ID != id {
		return errors.New("id does not match the key")
	}
	c := &qrCode{id: q.ID, ticket: q.Ticket, scene: q.Scene, sceneID: q.SceneID, str: q.Str, expires: q.Expires}
	s.qrcodes[c.id] = c
	if c.expires.IsZero() {
		key := "i" + c.scene
		if c.str {
			key = "s" + c.scene
		}
		s.permQR[key] = c
	}
	return nil
}

func (s *Sandbox) loadTokens(raw []byte) error {
	var st savedTokens
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	for _, t := range st.Tokens {
		s.tokens[t.Value] = &accessToken{value: t.Value, expires: t.Expires, superseded: t.Superseded}
	}
	s.latest, s.stable = s.tokens[st.Latest], s.tokens[st.Stable]
	s.lastForce = st.LastForce
	s.tokenDay, s.forceDay = st.TokenDay.counter(), st.ForceDay.counter()
	return nil
}

func (s *Sandbox) loadOAuth(raw []byte) error {
	var o savedOAuth
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	for _, g := range o.Codes {
		s.codes[g.Value] = &oauthCode{openid: g.OpenID, scope: g.Scope, expires: g.Expires, used: g.Used}
	}
	for _, g := range o.WebTokens {
		s.webTokens[g.Value] = &webToken{openid: g.OpenID, scope: g.Scope, expires: g.Expires}
	}
	for _, g := range o.Refreshes {
		s.refreshes[g.Value] = &refreshToken{openid: g.OpenID, scope: g.Scope, expires: g.Expires}
	}
	return nil
}

func (s *Sandbox) loadTemplates(raw []byte) error {
	var ts []savedTemplate
	if err := json.Unmarshal(raw, &ts); err != nil {
		return err
	}
	if len(ts) > maxTemplates {
		return fmt.Errorf("%d templates, at most %d", len(ts), maxTemplates)
	}
	set := &templateSet{byID: map[string]*Template{}}
	for _, st := range ts {
		t, err := s.newTemplate(st.Title, st.Content)
		if err != nil {
			return fmt.Errorf("template %q: %w", st.Title, err)
		}
		set.list = append(set.list, t)
		set.byID[t.ID] = t
	}
	s.templates.Store(set)
	return nil
}

// Reset puts the sandbox back as it is on first use: the seeded users and
// templates only; no tokens, OAuth codes, QR codes or messages; faults as
// in Options; counters and the push log empty. With Persistence the saved
// state is replaced as well before Reset returns; on error the
// replacement is retried with the next save.
func (s *Sandbox) Reset(ctx context.Context) error {
	// No save may run meanwhile: it would write a mix of both states.
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.tmplMu.Lock()
	s.templates.Store(&templateSet{byID: map[string]*Template{}})
	s.tmplMu.Unlock()
	s.mu.Lock()
	s.clearLocked()
	s.mu.Unlock()
	s.statsMu.Lock()
	s.errors, s.http500s = map[int]int{}, 0
	s.statsMu.Unlock()
	s.pushMu.Lock()
	s.pushes.list, s.pushes.next = nil, 0
	s.pushMu.Unlock()
	s.SetFaults(s.opts.Faults)
	if err := s.seed(); err != nil {
		return err
	}
	if s.opts.Persistence == nil {
		return nil
	}
	s.mu.Lock()
	s.saveAll = true
	s.mu.Unlock()
	return s.saveLocked(ctx)
}

// clearLocked empties the state under mu; the msgid sequence goes on, so
// no msgid is reused.
func (s *Sandbox) clearLocked() {
	s.users, s.order = map[string]*member{}, nil
	s.tokens, s.latest, s.stable = map[string]*accessToken{}, nil, nil
	s.lastForce, s.tokenDay, s.forceDay = time.Time{}, dayCounter{}, dayCounter{}
	s.codes, s.webTokens, s.refreshes = map[string]*oauthCode{}, map[string]*webToken{}, map[string]*refreshToken{}
	s.delivered, s.limits, s.stats = 0, [numLimitedAPIs]apiLimit{}, Stats{}
	s.qrcodes, s.permQR, s.qrSweepAt = map[string]*qrCode{}, map[string]*qrCode{}, 0
	s.notice = ""
}

// persistView is what the home page says about saving.
type persistView struct {
	On      bool   // Persistence is set
	Notice  string // why saved state was discarded at start
	SaveErr string // the last save's error, until a save succeeds
}

func (s *Sandbox) persistState() persistView {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := persistView{On: s.opts.Persistence != nil, Notice: s.notice}
	if s.saveErr != nil {
		v.SaveErr = s.saveErr.Error()
	}
	return v
}
