package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

func recipients(n int, prefix string) []store.Recipient {
	rs := make([]store.Recipient, n)
	for i := range rs {
		rs[i] = store.Recipient{OpenID: fmt.Sprintf("%s%d", prefix, i)}
	}
	return rs
}

func TestBacklog_DepthOldestAndAhead(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	if b, err := s.Backlog(ctx, c.Now(), 0); err != nil || b != (store.Backlog{}) {
		t.Fatalf("empty backlog: %+v, %v", b, err)
	}
	m1, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "one", Source: "cli"}, recipients(3, "a"))
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	m2, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "two", Source: "cli"}, recipients(4, "b"))
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(30 * time.Second)

	for _, tc := range []struct {
		limit  int
		depth  int
		capped bool
	}{
		{0, 7, false},
		{7, 7, false},
		{6, 6, true},
		{1, 1, true},
	} {
		b, err := s.Backlog(ctx, c.Now(), tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if b.Depth != tc.depth || b.Capped != tc.capped || b.Oldest != 90*time.Second {
			t.Errorf("limit %d: %+v, want depth %d capped %v oldest 1m30s", tc.limit, b, tc.depth, tc.capped)
		}
	}
	for _, tc := range []struct {
		msg, limit int64
		n          int
		capped     bool
	}{
		{m1.ID, 0, 3, false},
		{m2.ID, 0, 7, false},
		{m2.ID, 5, 5, true},
		{m2.ID + 1, 0, 0, false}, // no such message: nothing queued
	} {
		n, capped, err := s.BacklogAhead(ctx, tc.msg, int(tc.limit))
		if err != nil || n != tc.n || capped != tc.capped {
			t.Errorf("ahead of %d (limit %d): %d %v %v, want %d %v", tc.msg, tc.limit, n, capped, err, tc.n, tc.capped)
		}
	}

	// Both go out, a third is queued later: the sent ones no longer count.
	finish(t, s, c, m1.ID, m2.ID)
	c.Advance(time.Minute)
	if _, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "three", Source: "cli"}, recipients(2, "c")); err != nil {
		t.Fatal(err)
	}
	c.Advance(5 * time.Second)
	b, err := s.Backlog(ctx, c.Now(), 0)
	if err != nil || b.Depth != 2 || b.Oldest != 5*time.Second {
		t.Fatalf("after the first two went out: %+v, %v; want depth 2, oldest 5s", b, err)
	}
	if n, _, err := s.BacklogAhead(ctx, m2.ID, 0); err != nil || n != 0 {
		t.Errorf("ahead of a finished message: %d, %v; want 0", n, err)
	}
}
