package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/service"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

func TestMyMessages_NewestFirstPagedAndOnlyMine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 5 {
		title := "通知 " + string(rune('A'+i))
		if _, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, Title: title, UserNames: []string{"bob", "carol"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: store.KindText, Text: "只给 carol\n第二行", UserNames: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	page1, err := f.svc.MyMessages(ctx, f.ids["bob"], 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	page2, _ := f.svc.MyMessages(ctx, f.ids["bob"], 3, page1[len(page1)-1].DeliveryID)
	var names []string
	for _, m := range append(page1, page2...) {
		names = append(names, m.Name)
		if m.StateLabel != "发送中" || !strings.Contains(m.PageURL, "/m/") {
			t.Errorf("%+v", m)
		}
	}
	if got := strings.Join(names, ","); got != "通知 E,通知 D,通知 C,通知 B,通知 A" {
		t.Errorf("bob's messages %s, want newest first, only bob's", got)
	}
	carol, _ := f.svc.MyMessages(ctx, f.ids["carol"], 1, 0)
	if len(carol) != 1 || carol[0].Name != "只给 carol" {
		t.Errorf("carol's newest %+v", carol)
	}
}

func TestStatusReply_ListsRecentMessagesWithLinks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m, err := f.svc.Send(ctx, service.CLIActor, service.SendRequest{Kind: service.KindNotification, Title: "部署 <完成>", UserNames: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := f.svc.HandleInbound(ctx, wechat.Inbound{FromUserName: "openid-bob", CreateTime: time.Now().Unix(), MsgType: "text", Content: "状态", MsgID: 99})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"已绑定账号「bob」", "最近的消息", `<a href="http://127.0.0.1:8080/m/` + m.Page.Token + `">部署 ＜完成＞</a>`, "发送中",
		`<a href="http://127.0.0.1:8080/messages">我的消息</a>`} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply %q lacks %q", reply, want)
		}
	}
	reply, _ = f.svc.HandleInbound(ctx, wechat.Inbound{FromUserName: "openid-carol", CreateTime: time.Now().Unix(), MsgType: "text", Content: "状态", MsgID: 100})
	if !strings.Contains(reply, "还没有收到过推送") {
		t.Errorf("carol's reply %q", reply)
	}
}
