package sandbox

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkSave10kUsers measures one save after a template message to each
// of 10,000 users (a broadcast's worth of changed records) into a SQLite
// file: what sandbox mode writes in the background for a 10k broadcast.
func BenchmarkSave10kUsers(b *testing.B) {
	p := openSQLite(b, filepath.Join(b.TempDir(), "sandbox.db"))
	clk := newClock()
	sb, err := New(Options{AppID: appID, AppSecret: secret, Now: clk.Now, Persistence: p, SaveDelay: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	users := make([]string, 10_000)
	for i := range users {
		users[i] = sb.AddUser(fmt.Sprint("user", i)).OpenID
	}
	if err := sb.Flush(b.Context()); err != nil {
		b.Fatal(err)
	}
	tmpl := sb.templates.Load().byID[TemplateID(appID, "服务状态通知")]
	fields, _ := tmpl.checkData(map[string]dataItem{"thing1": {Value: "数据库备份"}, "phrase2": {Value: "已完成"}, "time3": {Value: "10:00"}})
	var bytes int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		sb.mu.Lock()
		for _, id := range users {
			m := sb.users[id]
			msgid := sb.newMsgIDLocked()
			m.dedup.remember(fmt.Sprint("client-", msgid), msgid, clk.Now())
			m.deliver(Message{Kind: KindTemplate, MsgID: msgid, TemplateID: tmpl.ID, Title: tmpl.Title, Fields: fields, URL: "https://app.example/m/1", ClientMsgID: fmt.Sprint("client-", msgid), At: clk.Now()})
			sb.inboxChangedLocked(id)
		}
		c := sb.takeChangesLocked()
		sb.mu.Unlock()
		b.StartTimer()
		if err := sb.write(b.Context(), c); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		recs, _ := p.Load(b.Context())
		for k, v := range recs {
			if strings.HasPrefix(k, prefixMsg) {
				bytes = len(v)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(bytes), "B/message-record")
}

// BenchmarkSendPathNote measures what persistence adds to a template
// send's locked section: noting the user's new message and the counters
// (one op), across 10,000 users as in a broadcast.
func BenchmarkSendPathNote(b *testing.B) {
	p := openSQLite(b, filepath.Join(b.TempDir(), "sandbox.db"))
	sb, err := New(Options{AppID: appID, AppSecret: secret, Persistence: p, SaveDelay: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	users := make([]string, 10_000)
	for i := range users {
		users[i] = fmt.Sprint("o", i)
	}
	b.ResetTimer()
	for i := range b.N {
		if i%len(users) == 0 {
			b.StopTimer()
			sb.mu.Lock()
			sb.takeChangesLocked() // as a save does between broadcasts
			sb.mu.Unlock()
			b.StartTimer()
		}
		sb.mu.Lock()
		sb.changedLocked(recCounters)
		sb.inboxChangedLocked(users[i%len(users)])
		sb.mu.Unlock()
	}
}
