package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wxpush/wxpush/store"
)

func TestPages_StoredWithTheMessageAndPrunedWithIt(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	fb := &store.Fallback{TemplateID: "TPL", Data: map[string]string{"title": "t"}, URL: "https://x.example/m/tok"}
	m, err := s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "hi", Source: "cli",
		Page: &store.Page{Token: "tok0123456789012345678901", Title: "标题", Content: "全文", ContentType: store.ContentMarkdown, Fallback: fb}},
		[]store.Recipient{{OpenID: "o1"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.PageByToken(ctx, "tok0123456789012345678901")
	if err != nil || p.MessageID != m.ID || p.Content != "全文" || p.ContentType != store.ContentMarkdown || p.Fallback == nil || p.Fallback.Data["title"] != "t" {
		t.Fatalf("page %+v, %v", p, err)
	}
	// A second message cannot take the same token.
	_, err = s.EnqueueMessage(ctx, store.Message{Kind: store.KindText, Body: "x", Source: "cli",
		Page: &store.Page{Token: "tok0123456789012345678901"}}, []store.Recipient{{OpenID: "o1"}})
	if err == nil {
		t.Fatal("two messages share a token")
	}
	if ms, _ := s.Messages(ctx, 10, 0); len(ms) != 1 {
		t.Errorf("%d messages: the refused one was stored without its page", len(ms))
	}
	finish(t, s, c, m.ID)
	c.Advance(2 * day)
	if _, err := s.Prune(ctx, store.Retention{Messages: day}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PageByToken(ctx, "tok0123456789012345678901"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("page after its message was pruned: %v, want ErrNotFound", err)
	}
}
