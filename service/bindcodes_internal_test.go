package service

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// A visit that found no live code, then waited while another visit created
// one, must take that one rather than create a second: the order is forced
// with the afterMiss hook.
func TestBindCode_VisitThatMissedTakesTheCodeMadeMeanwhile(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "wxpush.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, "alice", "pw-alice-123", false, false)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://wxpush.test")
	s := New(Deps{Store: st, WeChat: &wechat.Client{AppID: "wxtestapp0001", OAuthBase: "http://wechat.test"}},
		Config{BaseURL: base, BindMode: "oauth"})

	missed, release := make(chan struct{}), make(chan struct{})
	first := true
	s.bindCodes.afterMiss = func() {
		if first { // only visit A waits; B runs straight through
			first = false
			close(missed)
			<-release
		}
	}
	type result struct {
		id  int64
		err error
	}
	a := make(chan result, 1)
	go func() {
		c, err := s.BindCode(ctx, u.ID)
		a <- result{c.Token.ID, err}
	}()
	<-missed // A found no code and is about to create one
	cb, err := s.BindCode(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	ra := <-a
	if ra.err != nil {
		t.Fatal(ra.err)
	}
	if ra.id != cb.Token.ID {
		t.Errorf("visit A got code %d, visit B %d: two codes for one user", ra.id, cb.Token.ID)
	}
	// Both tokens' ids are 1 and 2 when a second was created.
	if _, _, err := st.BindStatus(ctx, u.ID, cb.Token.ID+1); err == nil {
		t.Error("a second binding token was created")
	}
}
