package service_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
)

// CheckSend is Send's rules without the send: for every request it
// reports exactly the problems Send refuses it with, and nothing for one
// Send accepts. The compose form checks with it as the admin types.
func TestCheckSend_AgreesWithSend(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reqs := map[string]service.SendRequest{
		"no kind":          {All: true},
		"empty text":       {Kind: store.KindText, Text: " ", All: true},
		"no recipients":    {Kind: store.KindText, Text: "hi"},
		"unknown user":     {Kind: store.KindText, Text: "", UserNames: []string{"ghost"}},
		"unbound user":     {Kind: store.KindText, Text: "hi", UserIDs: []int64{f.ids["unbound"]}},
		"no template":      {Kind: store.KindTemplate, All: true},
		"empty fields":     {Kind: store.KindTemplate, TemplateID: thingTpl, Data: map[string]string{}, All: true},
		"field rule":       {Kind: store.KindTemplate, TemplateID: thingTpl, Data: map[string]string{"thing1": "x", "phrase2": "abc"}, All: true},
		"bad url":          {Kind: store.KindTemplate, TemplateID: freeTpl, Data: map[string]string{"title": "t", "content": "c"}, URL: "ftp://x", All: true},
		"good text":        {Kind: store.KindText, Text: "hi", UserNames: []string{"alice"}},
		"good template":    {Kind: store.KindTemplate, TemplateID: thingTpl, Data: map[string]string{"thing1": "部署", "phrase2": "完成"}, All: true},
		"everything wrong": {Kind: store.KindTemplate, TemplateID: thingTpl, Data: map[string]string{"phrase2": "abc"}, URL: "x"},
	}
	for name, req := range reqs {
		t.Run(name, func(t *testing.T) {
			checked, err := f.svc.CheckSend(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			before := len(f.messages(t))
			_, err = f.svc.Send(ctx, service.CLIActor, req)
			var sent map[string]string
			if err != nil {
				sent = service.AsError(err).Fields
			} else if len(f.messages(t)) != before+1 {
				t.Fatal("Send accepted without queueing")
			}
			if len(checked) == 0 && len(sent) == 0 {
				return
			}
			if !maps.Equal(checked, sent) {
				t.Errorf("CheckSend %v, Send %v", checked, sent)
			}
		})
	}
}

// Template fields are named by their label on the card, not their key:
// 「状态」, not phrase2.
func TestSend_TemplateProblemsNameFieldsByLabel(t *testing.T) {
	f := newFixture(t)
	problems, err := f.svc.CheckSend(context.Background(), service.SendRequest{Kind: store.KindTemplate, TemplateID: thingTpl,
		Data: map[string]string{"phrase2": "abc"}, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if msg := problems["data.phrase2"]; !strings.HasPrefix(msg, "「状态」") || strings.Contains(msg, "phrase2") {
		t.Errorf("phrase2's problem: %q; want it named 「状态」", msg)
	}
	if msg := problems["data.thing1"]; msg != "请填写「事项」。" {
		t.Errorf("thing1's problem: %q", msg)
	}
	_, err = f.svc.Send(context.Background(), service.CLIActor, service.SendRequest{Kind: store.KindTemplate, TemplateID: thingTpl,
		Data: map[string]string{"phrase2": "abc"}, All: true})
	if msg := service.AsError(err).Message; strings.Contains(msg, "phrase2") || strings.Contains(msg, "data.") || !strings.Contains(msg, "「状态」") {
		t.Errorf("Send's message %q names keys", msg)
	}
}
