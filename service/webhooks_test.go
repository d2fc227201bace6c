package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

func TestCreateWebhook_RefusesBadInputFieldByField(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	by := service.Actor{UserID: f.ids["alice"], Name: "alice", Via: "dashboard"}
	ok := []string{store.EventUserMessage}
	tests := []struct {
		name  string
		in    service.WebhookInput
		field string
	}{
		{"empty URL", service.WebhookInput{Events: ok}, "url"},
		{"no scheme", service.WebhookInput{URL: "example.com/hook", Events: ok}, "url"},
		{"other scheme", service.WebhookInput{URL: "ftp://example.com/hook", Events: ok}, "url"},
		{"no host", service.WebhookInput{URL: "https:///hook", Events: ok}, "url"},
		{"credentials in the URL", service.WebhookInput{URL: "https://u:p@example.com/hook", Events: ok}, "url"},
		{"fragment", service.WebhookInput{URL: "https://example.com/hook#x", Events: ok}, "url"},
		{"URL too long", service.WebhookInput{URL: "https://example.com/" + strings.Repeat("a", 2040), Events: ok}, "url"},
		{"no events", service.WebhookInput{URL: "https://example.com/hook"}, "events"},
		{"unknown event", service.WebhookInput{URL: "https://example.com/hook", Events: []string{"user.sneezed"}}, "events"},
		{"test event is not subscribable", service.WebhookInput{URL: "https://example.com/hook", Events: []string{store.EventTest}}, "events"},
		{"description too long", service.WebhookInput{URL: "https://example.com/hook", Events: ok, Description: strings.Repeat("长", 201)}, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.svc.CreateWebhook(ctx, by, tt.in)
			e := service.AsError(err)
			if err == nil || e.Code != service.EInvalid || e.Fields[tt.field] == "" || e.Message == "" {
				t.Fatalf("err %v, want invalid with field %s", err, tt.field)
			}
		})
	}
	if es, _ := f.st.WebhookEndpoints(ctx); len(es) != 0 {
		t.Fatalf("%d endpoints stored from bad input", len(es))
	}

	secret, e, err := f.svc.CreateWebhook(ctx, by, service.WebhookInput{URL: " https://example.com/hook?token=mine ",
		Events: []string{store.EventMessageFinished, store.EventBindingCreated, store.EventBindingCreated}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 38 || e.URL != "https://example.com/hook?token=mine" ||
		strings.Join(e.Events, " ") != "binding.created message.finished" {
		t.Fatalf("created %q %+v", secret, e)
	}
	log, _ := f.st.AuditLog(ctx, 1)
	if len(log) != 1 || log[0].Action != "webhook.create" || strings.Contains(log[0].Target, "mine") {
		t.Fatalf("audit %+v: want the entry without the URL's query", log)
	}
	for _, grace := range []time.Duration{-time.Second, 8 * 24 * time.Hour} {
		if _, err := f.svc.RotateWebhookSecret(ctx, by, e.PublicID, grace); service.ErrorCode(err) != service.EInvalid {
			t.Errorf("grace %v: %v", grace, err)
		}
	}
	if _, err := f.svc.RotateWebhookSecret(ctx, by, "whk_nope", time.Hour); service.ErrorCode(err) != service.ENotFound {
		t.Errorf("rotating an unknown endpoint: %v", err)
	}
	for i := 1; i < service.MaxWebhookEndpoints; i++ {
		if _, _, err := f.svc.CreateWebhook(ctx, by, service.WebhookInput{URL: fmt.Sprintf("https://example.com/%d", i), Events: ok}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = f.svc.CreateWebhook(ctx, by, service.WebhookInput{URL: "https://example.com/one-too-many", Events: ok})
	if e := service.AsError(err); e.Code != service.EConflict || e.Reason != "too_many_endpoints" {
		t.Fatalf("endpoint %d: %v", service.MaxWebhookEndpoints+1, err)
	}
}

func TestCreateScopedAPIToken_NeedsKnownScopes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	by := service.Actor{UserID: f.ids["alice"], Name: "alice", Via: "dashboard"}
	for _, scopes := range [][]string{nil, {}, {"admin"}, {"send", "everything"}} {
		if _, _, err := f.svc.CreateScopedAPIToken(ctx, by, "ci", scopes); service.ErrorCode(err) != service.EInvalid {
			t.Errorf("scopes %v: %v", scopes, err)
		}
	}
	_, tok, err := f.svc.CreateScopedAPIToken(ctx, by, "ci", []string{"manage", "send", "send"})
	if err != nil || strings.Join(tok.Scopes, " ") != "send manage" {
		t.Fatalf("%v %v", tok.Scopes, err)
	}
}
