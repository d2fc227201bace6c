package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// sqlitePersistence keeps the records in a real SQLite file, one
// transaction per Save, configured as the app's store is (WAL,
// synchronous=NORMAL). Tests may hook Save.
type sqlitePersistence struct {
	db *sql.DB

	mu sync.Mutex
	// before, if set, runs at the start of each Save (it may block); an
	// error fails the Save with nothing written.
	before func(changes map[string][]byte) error
	// saved, if set, receives each committed Save's changes.
	saved chan map[string][]byte
}

func openSQLite(t testing.TB, path string) *sqlitePersistence {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return &sqlitePersistence{db: db}
}

func (p *sqlitePersistence) hook(before func(map[string][]byte) error, saved chan map[string][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before, p.saved = before, saved
}

func (p *sqlitePersistence) Load(ctx context.Context) (map[string][]byte, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT key, value FROM state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		recs[k] = v
	}
	return recs, rows.Err()
}

func (p *sqlitePersistence) Save(ctx context.Context, changes map[string][]byte) error {
	p.mu.Lock()
	before, saved := p.before, p.saved
	p.mu.Unlock()
	if before != nil {
		if err := before(changes); err != nil {
			return err
		}
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	del, err := tx.PrepareContext(ctx, `DELETE FROM state WHERE key = ?`)
	if err != nil {
		return err
	}
	put, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO state(key, value) VALUES(?, ?)`)
	if err != nil {
		return err
	}
	for k, v := range changes {
		if v == nil {
			_, err = del.ExecContext(ctx, k)
		} else {
			_, err = put.ExecContext(ctx, k, v)
		}
		if err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if saved != nil {
		saved <- changes
	}
	return nil
}

// startPersistent starts a sandbox over p on clk, served over HTTP until
// the test ends (then closed, saving what is left).
func startPersistent(t *testing.T, clk *clock, p Persistence, opts Options) *api {
	t.Helper()
	opts.AppID, opts.AppSecret, opts.Now, opts.Persistence = appID, secret, clk.Now, p
	sb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	return &api{t, sb, clk, srv}
}

// restart closes a's sandbox and server, as stopping the app does, and
// starts a new sandbox over a new connection to the same SQLite file.
func (a *api) restart(path string, opts Options) (*api, *sqlitePersistence) {
	a.t.Helper()
	a.srv.Close()
	if err := a.sb.Close(); err != nil {
		a.t.Fatalf("Close: %v", err)
	}
	p := openSQLite(a.t, path)
	return startPersistent(a.t, a.clk, p, opts), p
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (a *api) stableToken() tokenJSON {
	a.t.Helper()
	_, raw := a.call("POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"`+appID+`","secret":"`+secret+`"}`)
	var tok tokenJSON
	if err := json.Unmarshal([]byte(raw), &tok); err != nil || tok.AccessToken == "" {
		a.t.Fatalf("stable_token: %s", raw)
	}
	return tok
}

// waitSaved waits for a committed save holding key.
func waitSaved(t *testing.T, saved chan map[string][]byte, key string) map[string][]byte {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case c := <-saved:
			if _, ok := c[key]; ok {
				return c
			}
		case <-timeout:
			t.Fatalf("no save of %s", key)
			return nil
		}
	}
}

func TestPersistence_RestartKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	a := startPersistent(t, newClock(), openSQLite(t, path), Options{})
	sb := a.sb
	zhao := sb.AddUser("赵六").OpenID // not seeded: only saving keeps them
	users := sb.Users()
	li, wang := users[1].OpenID, users[2].OpenID
	sb.SetFollowing(li, false)
	sb.SetBlocked(wang, true)
	tmpl, err := sb.AddTemplate("到货通知", "商品:{{thing1.DATA}}")
	if err != nil {
		t.Fatal(err)
	}
	stable := a.stableToken()
	old, latest := a.token(), a.token() // old: superseded, within its 5-minute grace
	a.clk.Advance(2 * time.Minute)      // the follow's event window has closed
	sb.Interact(zhao)                   // the 5-message window
	for i := range 2 {
		wantCode(t, "custom send", a.sendText(latest, zhao, fmt.Sprint("客服 ", i)), 0, "ok")
	}
	body := statusBody(sb, zhao)
	body["client_msg_id"] = "order-1"
	first := msgidOf(t, a.sendTemplate(latest, body))
	temp := a.createQR(`{"expire_seconds":600,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"bind-1"}}}`)
	perm := a.createQR(`{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":7}}}`)
	sb.SetFaults(Faults{ErrorRate: 1})
	wantUsers, wantInbox, wantDelivered := sb.Users(), sb.Inbox(zhao), sb.TotalDelivered()

	a.clk.Advance(time.Minute)
	b, _ := a.restart(path, Options{})
	sb = b.sb
	if got := sb.Users(); !reflect.DeepEqual(got, wantUsers) {
		t.Errorf("users after restart:\n got %+v\nwant %+v", got, wantUsers)
	}
	if got := sb.Faults(); got != (Faults{}) {
		t.Errorf("faults survived the restart: %+v", got)
	}
	if !slices.ContainsFunc(sb.Templates(), func(x Template) bool { return x.ID == tmpl.ID && x.Content == tmpl.Content }) {
		t.Errorf("template %s lost: %+v", tmpl.Title, sb.Templates())
	}
	// The app's cached tokens keep working: no 40001, 40014 or new token.
	for name, tok := range map[string]string{"stable": stable.AccessToken, "latest": latest, "superseded in grace": old} {
		wantCode(t, name+" token", b.do("GET", "/cgi-bin/get_api_domain_ip", tok, ""), 0, "")
	}
	if again := b.stableToken(); again.AccessToken != stable.AccessToken {
		t.Errorf("stable_token rotated after the restart")
	}
	// The dedup window survived: the repeat delivers nothing.
	if got := msgidOf(t, b.sendTemplate(latest, body)); got != first {
		t.Errorf("client_msg_id repeat: msgid %d, want %d", got, first)
	}
	if got := sb.TotalDelivered(); got != wantDelivered {
		t.Errorf("TotalDelivered = %d, want %d", got, wantDelivered)
	}
	if got := sb.Inbox(zhao); !reflect.DeepEqual(got, wantInbox) {
		t.Errorf("inbox after restart:\n got %+v\nwant %+v", got, wantInbox)
	}
	// A new send reaches the user, with a msgid above those before, and
	// the window's count went on.
	if got := msgidOf(t, b.sendTemplate(latest, statusBody(sb, zhao))); got <= first {
		t.Errorf("msgid %d after the restart, not above %d", got, first)
	}
	for i := range 3 {
		wantCode(t, "custom send", b.sendText(latest, zhao, fmt.Sprint("重启后 ", i)), 0, "ok")
	}
	wantCode(t, "6th custom send", b.sendText(latest, zhao, "超额"), 45047, "out of response count limit")
	wantCode(t, "to the unfollower", b.sendTemplate(latest, statusBody(sb, li)), 43004, "")
	wantCode(t, "text to the blocked", b.sendText(latest, wang, "hi"), 48002, "")
	if err := sb.Scan(zhao, temp.URL); err != nil {
		t.Errorf("scanning the temporary QR code: %v", err)
	}
	if again := b.createQR(`{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":7}}}`); qrID(again.URL) != qrID(perm.URL) || again.Ticket != perm.Ticket {
		t.Errorf("permanent code for scene 7: %+v, want %+v", again, perm)
	}
	if _, page := get(t, http.DefaultClient, b.srv.URL+"/"); !strings.Contains(page, `id="persist-note"`) || !strings.Contains(page, "故障注入设置不保存") {
		t.Errorf("home page does not say what is saved:\n%s", page)
	}
}

func TestPersistence_InboxKeepsLastMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	a := startPersistent(t, newClock(), openSQLite(t, path), Options{})
	zhao := a.sb.AddUser("赵六").OpenID
	for i := range persistInbox + 10 {
		if err := a.sb.Say(zhao, fmt.Sprint("消息 ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // saved after the first 60: older records go
		a.sb.Say(zhao, fmt.Sprint("再来 ", i))
	}
	want := a.sb.Inbox(zhao)[15:]
	b, p := a.restart(path, Options{})
	if got := b.sb.Inbox(zhao); !reflect.DeepEqual(got, want) {
		t.Errorf("inbox after restart: %d messages, want the last %d", len(got), len(want))
	}
	recs, _ := p.Load(t.Context())
	if n := messageRecords(recs, zhao); n != persistInbox {
		t.Errorf("%d message records saved, want %d", n, persistInbox)
	}
}

func TestPersistence_SavesSoonWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	p := openSQLite(t, path)
	saved := make(chan map[string][]byte, 16)
	p.hook(nil, saved)
	a := startPersistent(t, newClock(), p, Options{SaveDelay: time.Millisecond})
	zhao := a.sb.AddUser("赵六").OpenID
	waitSaved(t, saved, prefixUser+zhao)

	// As after kill -9: the first sandbox is never closed.
	b := startPersistent(t, a.clk, openSQLite(t, path), Options{})
	if _, ok := b.sb.User(zhao); !ok {
		t.Fatal("the user saved without Close is not loaded")
	}
}

// TestPersistence_SendsDoNotWaitForSaves forces a save to hang while the
// API takes 200 template sends: they all succeed meanwhile, and all of them
// are saved by one more save, not one each.
func TestPersistence_SendsDoNotWaitForSaves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	p := openSQLite(t, path)
	a := startPersistent(t, newClock(), p, Options{SaveDelay: time.Millisecond})
	var openids []string
	for i := range 200 {
		openids = append(openids, a.sb.AddUser(fmt.Sprint("用户", i)).OpenID)
	}
	tok := a.token()
	if err := a.sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	started, gate := make(chan struct{}), make(chan struct{})
	saved := make(chan map[string][]byte, 8)
	var mu sync.Mutex
	saves := 0
	p.hook(func(map[string][]byte) error {
		mu.Lock()
		saves++
		n := saves
		mu.Unlock()
		if n == 1 {
			close(started)
			<-gate
		}
		return nil
	}, saved)
	a.sb.AddUser("触发")
	<-started // a save is in progress, and hangs
	for _, id := range openids {
		wantCode(t, "send during a save", a.sendTemplate(tok, statusBody(a.sb, id)), 0, "ok")
	}
	close(gate)
	<-saved // the hung save
	second := <-saved
	for _, id := range openids {
		if n := messageRecords(second, id); n != 1 {
			t.Fatalf("the second save has %d messages of %s, want 1", n, id)
		}
	}
	if err := a.sb.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if saves != 2 {
		t.Errorf("%d saves, want 2", saves)
	}
	recs, _ := p.Load(t.Context())
	if n := messageRecords(recs, openids[199]); n != 1 {
		t.Errorf("%d messages saved for the last user, want 1", n)
	}
}

// messageRecords counts the message records of openid in recs.
func messageRecords(recs map[string][]byte, openid string) int {
	n := 0
	for k, v := range recs {
		if strings.HasPrefix(k, prefixMsg+openid+"/") && v != nil {
			n++
		}
	}
	return n
}

func TestPersistence_SaveFailureIsShownAndRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	p := openSQLite(t, path)
	a := startPersistent(t, newClock(), p, Options{SaveDelay: time.Millisecond})
	if err := a.sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	failed := make(chan struct{}, 1)
	saved := make(chan map[string][]byte, 16)
	var mu sync.Mutex
	failing := true
	p.hook(func(map[string][]byte) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			select {
			case failed <- struct{}{}:
			default:
			}
			return errors.New("disk I/O error")
		}
		return nil
	}, saved)
	zhao := a.sb.AddUser("赵六").OpenID
	<-failed // the scheduled save failed
	// Saves run one at a time: this one starts once the failed one has
	// recorded its error, and fails too.
	if err := a.sb.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("save: err = %v", err)
	}
	if _, page := get(t, http.DefaultClient, a.srv.URL+"/"); !strings.Contains(page, `id="save-error"`) || !strings.Contains(page, "disk I/O error") {
		t.Errorf("home page does not show the failed save:\n%s", page)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	waitSaved(t, saved, prefixUser+zhao)
	// Saves run one at a time: this one returns once the retry is done.
	if err := a.sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, page := get(t, http.DefaultClient, a.srv.URL+"/"); strings.Contains(page, `id="save-error"`) {
		t.Error("the error is still shown after a save succeeded")
	}
	b := startPersistent(t, a.clk, openSQLite(t, path), Options{})
	if _, ok := b.sb.User(zhao); !ok {
		t.Fatal("the change of the failed save was not saved by the retry")
	}
}

func TestReset_ClearsStateAndSavedState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	p := openSQLite(t, path)
	a := startPersistent(t, newClock(), p, Options{Templates: []Template{{Title: "消息通知", Content: "标题：{{title.DATA}}"}}})
	zhao := a.sb.AddUser("赵六").OpenID
	if _, err := a.sb.AddTemplate("到货通知", "商品:{{thing1.DATA}}"); err != nil {
		t.Fatal(err)
	}
	tok := a.token()
	a.sb.SetFaults(Faults{ErrorRate: 0.5})
	if err := a.sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh, err := New(Options{AppID: appID, AppSecret: secret, Templates: []Template{{Title: "消息通知", Content: "标题：{{title.DATA}}"}}})
	if err != nil {
		t.Fatal(err)
	}

	c := browser(t)
	// Only the confirmation page's form resets.
	resp := post(t, c, a.srv.URL+"/reset", nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /reset without confirm: %d", resp.StatusCode)
	}
	if _, ok := a.sb.User(zhao); !ok {
		t.Fatal("an unconfirmed POST reset the sandbox")
	}
	status, page := get(t, c, a.srv.URL+"/")
	if status != 200 || !strings.Contains(page, `action="/reset"`) || !strings.Contains(page, "重置沙箱") {
		t.Fatalf("home page has no reset form:\n%s", page)
	}
	status, page = get(t, c, a.srv.URL+"/reset")
	if status != 200 || formAction(t, page) != "/reset" || !strings.Contains(page, `name="confirm" value="yes"`) || !strings.Contains(page, "40003") {
		t.Fatalf("confirmation page: %d\n%s", status, page)
	}
	resp = post(t, c, a.srv.URL+"/reset", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?done=reset" {
		t.Fatalf("confirmed reset: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := get(t, c, a.srv.URL+"/?done=reset"); !strings.Contains(page, "沙箱已重置") {
		t.Error("no confirmation after the reset")
	}

	check := func(what string, a *api) {
		t.Helper()
		if got, want := a.sb.Users(), fresh.Users(); !sameUsers(got, want) {
			t.Errorf("%s: users %+v, want %+v", what, got, want)
		}
		if got, want := a.sb.Templates(), fresh.Templates(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: templates %+v, want %+v", what, got, want)
		}
		wantCode(t, what+": old token", a.do("GET", "/cgi-bin/get_api_domain_ip", tok, ""), 40014, "invalid access_token")
		if got := a.sb.Faults(); got != (Faults{}) {
			t.Errorf("%s: faults %+v", what, got)
		}
	}
	check("after reset", a)
	recs, err := p.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recs[prefixUser+zhao]; ok {
		t.Error("the removed user is still saved")
	}
	b, _ := a.restart(path, Options{Templates: []Template{{Title: "消息通知", Content: "标题：{{title.DATA}}"}}})
	check("after reset and restart", b)
}

// sameUsers compares users but for their creation time.
func sameUsers(a, b []User) bool {
	return slices.EqualFunc(a, b, func(x, y User) bool {
		x.Created, y.Created, x.SubscribeTime, y.SubscribeTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		return x == y
	})
}

func TestReset_InMemory(t *testing.T) {
	sb, _ := newSandbox(t, Options{})
	sb.AddUser("赵六")
	if err := sb.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(sb.Users()); n != 3 {
		t.Errorf("%d users after reset, want the 3 seeded", n)
	}
}

func TestPersistence_DiscardsStateOfAnotherFormatOrApp(t *testing.T) {
	for _, tc := range []struct {
		name, meta, notice string
	}{
		{"other app", `{"version":1,"app_id":"wxother"}`, "另一个 AppID（wxother）"},
		{"other version", `{"version":999,"app_id":"` + appID + `"}`, "格式不兼容"},
		{"no meta", "", "格式不兼容"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := openSQLite(t, filepath.Join(t.TempDir(), "sandbox.db"))
			recs := map[string][]byte{
				prefixUser + "ostale": []byte(`{"seq":0,"openid":"ostale","nickname":"旧用户"}`),
				keyTemplates:          []byte(`[{"title":"旧模板","content":"{{a.DATA}}"}]`),
			}
			if tc.meta != "" {
				recs[keyMeta] = []byte(tc.meta)
			}
			if err := p.Save(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			a := startPersistent(t, newClock(), p, Options{})
			if n := len(a.sb.Users()); n != 3 || slices.ContainsFunc(a.sb.Users(), func(u User) bool { return u.Nickname == "旧用户" }) {
				t.Errorf("users %+v, want the 3 seeded", a.sb.Users())
			}
			if _, page := get(t, http.DefaultClient, a.srv.URL+"/"); !strings.Contains(page, tc.notice) {
				t.Errorf("home page lacks %q", tc.notice)
			}
			if err := a.sb.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := p.Load(t.Context())
			if _, ok := got[prefixUser+"ostale"]; ok {
				t.Error("the discarded state is still saved")
			}
			var meta savedMeta
			if json.Unmarshal(got[keyMeta], &meta); meta != (savedMeta{Version: stateVersion, AppID: appID}) {
				t.Errorf("saved meta %+v", meta)
			}
		})
	}
}

func TestPersistence_UnreadableRecordFailsNew(t *testing.T) {
	meta := `{"version":1,"app_id":"` + appID + `"}`
	for _, tc := range []struct {
		name, key, value string
	}{
		{"bad JSON", prefixUser + "o1", `{"seq":`},
		{"openid not the key's", prefixUser + "o1", `{"seq":0,"openid":"o2","nickname":"x"}`},
		{"bad template", keyTemplates, `[{"title":"t","content":"no placeholder"}]`},
		{"unknown record", "mystery", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := openSQLite(t, filepath.Join(t.TempDir(), "sandbox.db"))
			if err := p.Save(t.Context(), map[string][]byte{keyMeta: []byte(meta), tc.key: []byte(tc.value)}); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{AppID: appID, AppSecret: secret, Persistence: p})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.key)) {
				t.Errorf("New: err = %v, want one naming record %q", err, tc.key)
			}
		})
	}
}

func TestSaveWait(t *testing.T) {
	first := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	const d = time.Second
	for _, tc := range []struct {
		name    string
		now     time.Duration // after the first change
		changed bool          // during the last wait
		want    time.Duration
	}{
		{"quiet since", d, false, 0},
		{"changes came: wait again", d, true, d},
		{"changes keep coming: until the deadline", 9500 * time.Millisecond, true, 500 * time.Millisecond},
		{"past the deadline", 10 * d, true, 0},
		{"quiet at the deadline", 10 * d, false, 0},
	} {
		if got := saveWait(first.Add(tc.now), first, tc.changed, d); got != tc.want {
			t.Errorf("%s: saveWait = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPersistence_MsgIDsGoOnAboveRestored: msgids keep increasing across a
// restart, so no msgid an app stored is answered again for another message.
func TestPersistence_MsgIDsGoOnAboveRestored(t *testing.T) {
	p := openSQLite(t, filepath.Join(t.TempDir(), "sandbox.db"))
	const high = 9_000_000_000_000_000_000
	err := p.Save(t.Context(), map[string][]byte{
		keyMeta:              []byte(`{"version":1,"app_id":"` + appID + `"}`),
		prefixUser + "o1":    []byte(`{"seq":0,"openid":"o1","nickname":"赵六","following":true}`),
		msgKey("o1", high):   []byte(`{"kind":"text","from_user":true,"msgid":9000000000000000000,"content":"你好"}`),
		msgKey("o1", high-1): []byte(`{"kind":"text","from_user":true,"msgid":8999999999999999999,"content":"在吗"}`),
		msgKey("ogone", 5):   []byte(`{"kind":"text","msgid":5,"content":"orphan"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := startPersistent(t, newClock(), p, Options{})
	in := a.sb.Inbox("o1")
	if len(in) != 2 || in[0].Content != "在吗" || in[1].Content != "你好" {
		t.Fatalf("restored inbox %+v", in)
	}
	if err := a.sb.Say("o1", "新消息"); err != nil {
		t.Fatal(err)
	}
	if in := a.sb.Inbox("o1"); in[2].MsgID <= high {
		t.Errorf("msgid %d after the restart, not above %d", in[2].MsgID, int64(high))
	}
	// The orphan message (a user never saved) is dropped at the next save.
	if err := a.sb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	recs, _ := p.Load(t.Context())
	if _, ok := recs[msgKey("ogone", 5)]; ok {
		t.Error("the orphan message record is still saved")
	}
}
