package service_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/service"
)

func TestTopics_CreateUpdateDeleteAreCheckedAndAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := service.UserActor(f.user(t, "alice"))
	tests := []struct {
		name  string
		in    service.TopicInput
		field string
	}{
		{"no slug", service.TopicInput{Name: "运维"}, "slug"},
		{"slug with spaces", service.TopicInput{Slug: "o p s", Name: "运维"}, "slug"},
		{"slug in Chinese", service.TopicInput{Slug: "运维", Name: "运维"}, "slug"},
		{"slug starting with -", service.TopicInput{Slug: "-ops", Name: "运维"}, "slug"},
		{"slug too long", service.TopicInput{Slug: strings.Repeat("a", 33), Name: "运维"}, "slug"},
		{"no name", service.TopicInput{Slug: "ops", Name: "  "}, "name"},
		{"long name", service.TopicInput{Slug: "ops", Name: strings.Repeat("运", 21)}, "name"},
		{"long description", service.TopicInput{Slug: "ops", Name: "运维", Description: strings.Repeat("x", 201)}, "description"},
	}
	for _, tt := range tests {
		_, err := f.svc.CreateTopic(ctx, admin, tt.in)
		if e := service.AsError(err); e.Code != service.EInvalid || e.Fields[tt.field] == "" {
			t.Errorf("%s: err = %v, want invalid on %s", tt.name, err, tt.field)
		}
	}
	top, err := f.svc.CreateTopic(ctx, admin, service.TopicInput{Slug: " OPS ", Name: "运维", Description: "服务器告警", SelfSubscribe: true})
	if err != nil || top.Slug != "ops" {
		t.Fatalf("create: %+v, %v", top, err)
	}
	if _, err := f.svc.CreateTopic(ctx, admin, service.TopicInput{Slug: "ops", Name: "另一个"}); service.AsError(err).Reason != "slug_taken" {
		t.Errorf("taken slug: err = %v", err)
	}
	if _, err := f.svc.UpdateTopic(ctx, admin, "ops", service.TopicInput{Name: "运维告警"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Topic(ctx, "OPS"); got.Name != "运维告警" || got.SelfSubscribe {
		t.Errorf("after update: %+v", got)
	}
	if _, err := f.svc.UpdateTopic(ctx, admin, "nope", service.TopicInput{Name: "x"}); service.AsError(err).Reason != service.ReasonUnknownTopic {
		t.Errorf("update unknown: %v", err)
	}
	if err := f.svc.DeleteTopic(ctx, admin, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Topic(ctx, "ops"); service.ErrorCode(err) != service.ENotFound {
		t.Errorf("deleted topic: %v", err)
	}
	log, _ := f.st.AuditLog(ctx, 10)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "topic.delete,topic.update,topic.create" {
		t.Errorf("audit %v", actions)
	}
}

func TestTopics_WhoMaySubscribeWhom(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, bob := f.user(t, "alice"), f.user(t, "bob") // alice is the admin
	for _, in := range []service.TopicInput{{Slug: "open", Name: "公开", SelfSubscribe: true}, {Slug: "closed", Name: "内部"}} {
		if _, err := f.svc.CreateTopic(ctx, service.UserActor(alice), in); err != nil {
			t.Fatal(err)
		}
	}
	if _, changed, err := f.svc.Subscribe(ctx, service.UserActor(bob), "open", bob); err != nil || !changed {
		t.Errorf("self-subscribe to an open topic: %v, %v", changed, err)
	}
	if _, changed, err := f.svc.Subscribe(ctx, service.WeChatActor(bob), "open", bob); err != nil || changed {
		t.Errorf("subscribing again: changed %v, %v; want no change", changed, err)
	}
	if _, _, err := f.svc.Subscribe(ctx, service.WeChatActor(bob), "closed", bob); service.AsError(err).Reason != "not_self_subscribe" {
		t.Errorf("self-subscribe to a closed topic: %v", err)
	}
	if _, _, err := f.svc.Subscribe(ctx, service.UserActor(alice), "closed", bob); err != nil {
		t.Errorf("the admin adds bob: %v", err)
	}
	if _, _, err := f.svc.Subscribe(ctx, service.UserActor(alice), "closed", alice); err != nil {
		t.Errorf("the admin joins herself: %v", err)
	}
	if _, changed, err := f.svc.Unsubscribe(ctx, service.WeChatActor(bob), "closed", bob); err != nil || !changed {
		t.Errorf("leaving a closed topic: %v, %v", changed, err)
	}
	if _, _, _, err := f.svc.SetSubscription(ctx, service.CLIActor, "open", "ghost", true); service.AsError(err).Reason != "unknown_user" {
		t.Errorf("unknown user: %v", err)
	}
	if _, _, _, err := f.svc.SetSubscription(ctx, service.CLIActor, "ghost", "bob", true); service.AsError(err).Reason != service.ReasonUnknownTopic {
		t.Errorf("unknown topic: %v", err)
	}
	ts, _ := f.svc.UserTopics(ctx, bob)
	if len(ts) != 1 || ts[0].Slug != "open" || !ts[0].Subscribed {
		t.Errorf("bob's topics %+v: want only the open one, subscribed", ts)
	}
}

// TestSend_TopicsReachEachSubscriberOnce: a user in two targeted topics,
// and also named, gets one delivery; unbound subscribers are skipped.
func TestSend_TopicsReachEachSubscriberOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := service.UserActor(f.user(t, "alice"))
	for _, slug := range []string{"ops", "dev", "empty"} {
		if _, err := f.svc.CreateTopic(ctx, admin, service.TopicInput{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	for slug, names := range map[string][]string{"ops": {"alice", "bob", "unbound"}, "dev": {"bob", "carol"}, "empty": {"unbound"}} {
		for _, n := range names {
			if _, _, _, err := f.svc.SetSubscription(ctx, admin, slug, n, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, Title: "发布",
		UserNames: []string{"alice"}, Topics: []string{"ops", "dev", "OPS"}})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := f.st.Deliveries(ctx, m.ID)
	var got []string
	for _, d := range ds {
		got = append(got, d.UserName)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "alice,bob,carol" || m.Total != 3 {
		t.Errorf("deliveries to %v (total %d), want alice, bob and carol once each", got, m.Total)
	}
	page, _ := f.st.PageByToken(ctx, m.Page.Token)
	if len(page.Topics) != 2 {
		t.Errorf("the page knows topics %+v, want ops and dev", page.Topics)
	}
	log, _ := f.st.AuditLog(ctx, 1)
	if !strings.Contains(log[0].Detail, "主题「ops」") || !strings.Contains(log[0].Detail, "（3 人）") {
		t.Errorf("audit %q", log[0].Detail)
	}

	tests := []struct {
		name   string
		req    service.SendRequest
		code   service.Code
		reason string
		field  string
	}{
		{"unknown topic", service.SendRequest{Topics: []string{"ops", "nope"}}, service.ENotFound, service.ReasonUnknownTopic, "topics"},
		{"no bound subscriber", service.SendRequest{Topics: []string{"empty"}}, service.EInvalid, "invalid_request", "topics"},
		{"all and topics", service.SendRequest{All: true, Topics: []string{"ops"}}, service.EInvalid, "invalid_request", "topics"},
	}
	for _, tt := range tests {
		tt.req.Kind, tt.req.Title = service.KindNotification, "x"
		_, err := f.svc.Send(ctx, service.CLIActor, tt.req)
		if e := service.AsError(err); e.Code != tt.code || e.Reason != tt.reason || e.Fields[tt.field] == "" {
			t.Errorf("%s: err = %v, want %s/%s on %s", tt.name, err, tt.code, tt.reason, tt.field)
		}
	}
}
