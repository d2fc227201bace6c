package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

func TestNewBindTokenLimited_RefusesPastTheLimitUntilTheWindowMoves(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	lim := store.Limit{Max: 3, Per: 10 * time.Minute}
	first := c.Now()
	for i := range 3 {
		if _, _, err := s.NewBindTokenLimited(ctx, alice.ID, time.Minute, lim); err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
		c.Advance(time.Minute)
	}
	_, _, err := s.NewBindTokenLimited(ctx, alice.ID, time.Minute, lim)
	var le *store.LimitError
	if !errors.Is(err, store.ErrTooMany) || !errors.As(err, &le) {
		t.Fatalf("fourth token: %v, want a *LimitError", err)
	}
	if want := first.Add(10 * time.Minute); !le.RetryAt.Equal(want) {
		t.Errorf("RetryAt %v, want %v (the first token leaves the window)", le.RetryAt, want)
	}
	// Another user has a limit of their own; the unlimited call has none.
	if _, _, err := s.NewBindTokenLimited(ctx, bob.ID, time.Minute, lim); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if _, _, err := s.NewBindToken(ctx, alice.ID, time.Minute); err != nil {
		t.Fatalf("NewBindToken: %v", err)
	}
	c.Advance(le.RetryAt.Sub(c.Now()) - time.Millisecond)
	if _, _, err := s.NewBindTokenLimited(ctx, alice.ID, time.Minute, lim); !errors.Is(err, store.ErrTooMany) {
		t.Fatalf("just before RetryAt: %v, want ErrTooMany", err)
	}
	c.Advance(time.Millisecond)
	if _, _, err := s.NewBindTokenLimited(ctx, alice.ID, time.Minute, lim); err == nil {
		// alice made 4 in the window counting the unlimited one: still full.
		t.Fatal("the unlimited token did not count")
	}
	c.Advance(time.Minute)
	if _, _, err := s.NewBindTokenLimited(ctx, alice.ID, time.Minute, lim); err != nil {
		t.Fatalf("after the window moved: %v", err)
	}
}

func TestPrune_DeletesBindTokensADayAfterTheyExpire(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	u := newUser(t, s, "alice")
	oldTok, old, err := s.NewBindToken(ctx, u.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BindStatus(ctx, u.ID, old.ID); err != nil { // cached, as the page's polls make it
		t.Fatal(err)
	}
	c.Advance(12 * time.Hour)
	_, young, err := s.NewBindToken(ctx, u.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(12*time.Hour + 10*time.Minute) // old expired a day ago, to the millisecond
	if p, err := s.Prune(ctx, store.Retention{}); err != nil || p.BindTokens != 0 {
		t.Fatalf("Prune at exactly a day: %+v, %v; want nothing pruned", p, err)
	}
	c.Advance(time.Millisecond)
	p, err := s.Prune(ctx, store.Retention{})
	if err != nil || p.BindTokens != 1 {
		t.Fatalf("Prune = %+v, %v; want 1 binding token", p, err)
	}
	if _, err := s.BindTokenByToken(ctx, oldTok); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the expired token is still there: %v", err)
	}
	if _, _, err := s.BindStatus(ctx, u.ID, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("BindStatus of the pruned token: %v, want ErrNotFound (not a cached copy)", err)
	}
	if _, _, err := s.BindStatus(ctx, u.ID, young.ID); err != nil {
		t.Errorf("the younger token went too: %v", err)
	}
}
