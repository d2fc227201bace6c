package wechat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wxpush/wxpush/wechat"
)

// Sample pushes, from docs/wechat.md §7 and docs/wechat-details.md §3.2, docs/wechat-details.md §4.2, docs/wechat-details.md §6.3.
var (
	sampleText = `<xml>
<ToUserName><![CDATA[gh_account]]></ToUserName>
<FromUserName><![CDATA[oUser1]]></FromUserName>
<CreateTime>1348831860</CreateTime>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[this is a test]]></Content>
<MsgId>1234567890123456</MsgId>
<MsgDataId>xxxx</MsgDataId>
<Idx>xxxx</Idx>
</xml>`
	sampleSubscribe = `<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe]]></Event>
</xml>`
	sampleSubscribeQR = `<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe]]></Event>
  <EventKey><![CDATA[qrscene_bind_abc]]></EventKey>
  <Ticket><![CDATA[TICKET]]></Ticket>
</xml>`
	sampleScan = `<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[FromUser]]></FromUserName>
  <CreateTime>123456789</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[SCAN]]></Event>
  <EventKey><![CDATA[bind_abc]]></EventKey>
  <Ticket><![CDATA[TICKET]]></Ticket>
</xml>`
	sampleUnsubscribe = `<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>`
	sampleSafe        = `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[` + v2Encrypt + `]]></Encrypt></xml>`
)

func templateFinished(status string) string {
	return `<xml>
<ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>
<CreateTime>1395658920</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>
<MsgID>3717005636572528642</MsgID>
<Status><![CDATA[` + status + `]]></Status>
</xml>`
}

func mustParse(t *testing.T, body string) wechat.Inbound {
	t.Helper()
	m, err := wechat.ParseInbound([]byte(body))
	if err != nil {
		t.Fatalf("ParseInbound: %v\n%s", err, body)
	}
	return m
}

func TestParseInbound(t *testing.T) {
	tests := []struct {
		name, body string
		want       wechat.Inbound
	}{
		{"text", sampleText, wechat.Inbound{ToUserName: "gh_account", FromUserName: "oUser1", CreateTime: 1348831860, MsgType: "text", Content: "this is a test", MsgID: 1234567890123456}},
		{"subscribe", sampleSubscribe, wechat.Inbound{ToUserName: "toUser", FromUserName: "FromUser", CreateTime: 123456789, MsgType: "event", Event: "subscribe"}},
		{"subscribe by QR", sampleSubscribeQR, wechat.Inbound{ToUserName: "toUser", FromUserName: "FromUser", CreateTime: 123456789, MsgType: "event", Event: "subscribe", EventKey: "qrscene_bind_abc", Ticket: "TICKET"}},
		{"scan", sampleScan, wechat.Inbound{ToUserName: "toUser", FromUserName: "FromUser", CreateTime: 123456789, MsgType: "event", Event: "SCAN", EventKey: "bind_abc", Ticket: "TICKET"}},
		{"unsubscribe", sampleUnsubscribe, wechat.Inbound{ToUserName: "toUser", FromUserName: "FromUser", CreateTime: 123456789, MsgType: "event", Event: "unsubscribe"}},
		{"compatible mode", v2Body, wechat.Inbound{ToUserName: "gh_10f6c3c3ac5a", FromUserName: "oyORnuP8q7ou2gfYjqLzSIWZf0rs", CreateTime: 1409735668, MsgType: "text", Content: "abcdteT", MsgID: 6054768590064713728, Encrypt: v2Encrypt}},
		{"safe mode", sampleSafe, wechat.Inbound{ToUserName: "gh_10f6c3c3ac5a", Encrypt: v2Encrypt}},
		{"numbers with spaces", "<xml><CreateTime> 12 </CreateTime><MsgId>\n9223372036854775807\n</MsgId></xml>", wechat.Inbound{CreateTime: 12, MsgID: 9223372036854775807}},
		{"escaped text", "<?xml version=\"1.0\"?><xml><Content>a &amp; &lt;b&gt; &#20320;</Content></xml>", wechat.Inbound{Content: "a & <b> 你"}},
		{"nested unknown elements skipped", "<xml><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo><Event>scancode_push</Event></xml>", wechat.Inbound{Event: "scancode_push"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.body); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseInbound_TemplateSendJobFinish(t *testing.T) {
	for _, status := range []string{"success", "failed:user block", "failed: system failed"} {
		m := mustParse(t, templateFinished(status))
		if m.Status != status {
			t.Errorf("Status = %q, want %q", m.Status, status)
		}
		// 3717005636572528642 is beyond float64's exact range (2^53).
		if m.TemplateMsgID != 3717005636572528642 || m.MsgID != 0 {
			t.Errorf("TemplateMsgID = %d, MsgID = %d", m.TemplateMsgID, m.MsgID)
		}
		if m.Event != wechat.EventTemplateSendFinished {
			t.Errorf("Event = %q", m.Event)
		}
	}
}

func TestParseInbound_Rejects(t *testing.T) {
	tests := map[string]string{
		"empty":             "",
		"not xml":           "success",
		"json":              `{"ToUserName":"x"}`,
		"unclosed":          "<xml><Content>hi</Content>",
		"mismatched":        "<xml><Content>hi</MsgType></xml>",
		"wrong root":        "<message><Content>hi</Content></message>",
		"namespaced root":   `<a:xml xmlns:a="urn:x"><Content>hi</Content></a:xml>`,
		"doctype":           `<!DOCTYPE xml [<!ENTITY x "boom">]><xml><Content>&x;</Content></xml>`,
		"external entity":   `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>`,
		"unknown entity":    `<xml><Content>&x;</Content></xml>`,
		"two roots":         "<xml></xml><xml></xml>",
		"text after root":   "<xml></xml>junk",
		"text in root":      "<xml>junk<Content>hi</Content></xml>",
		"element in field":  "<xml><Content><b>hi</b></Content></xml>",
		"duplicate field":   "<xml><MsgId>1</MsgId><MsgId>2</MsgId></xml>",
		"bad number":        "<xml><CreateTime>12a</CreateTime></xml>",
		"number overflow":   "<xml><MsgId>9223372036854775808</MsgId></xml>",
		"float number":      "<xml><CreateTime>1.5</CreateTime></xml>",
		"illegal character": "<xml><Content>\x00</Content></xml>",
		"bad utf-8":         "<xml><Content>\xff</Content></xml>",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if m, err := wechat.ParseInbound([]byte(body)); !errors.Is(err, wechat.ErrBadXML) {
				t.Errorf("ParseInbound = %+v, %v; want ErrBadXML", m, err)
			}
		})
	}
}

func TestInbound_DedupKey(t *testing.T) {
	text := mustParse(t, sampleText)
	retry := text
	retry.CreateTime++ // a retry keeps the MsgId
	if text.DedupKey() != retry.DedupKey() {
		t.Error("retried message has another key")
	}
	other := text
	other.MsgID++
	if text.DedupKey() == other.DedupKey() {
		t.Error("two messages share a key")
	}

	sub := mustParse(t, sampleSubscribe)
	unsub := mustParse(t, sampleUnsubscribe)
	later := sub
	later.CreateTime++
	otherUser := sub
	otherUser.FromUserName = "oOther"
	if again := mustParse(t, sampleSubscribe); sub.DedupKey() != again.DedupKey() {
		t.Error("retried event has another key")
	}
	keys := map[string]string{}
	for name, m := range map[string]wechat.Inbound{
		"text": text, "subscribe": sub, "unsubscribe same second": unsub, "subscribe later": later,
		"other user": otherUser, "scan": mustParse(t, sampleScan),
	} {
		k := m.DedupKey()
		if prev, dup := keys[k]; dup {
			t.Errorf("%s and %s share the key %q", name, prev, k)
		}
		keys[k] = name
	}

	a := mustParse(t, templateFinished("success"))
	b := a
	b.TemplateMsgID++ // another template message to the same user in the same second
	if a.DedupKey() == b.DedupKey() {
		t.Error("two job-finished events share a key")
	}
	if !strings.Contains(a.DedupKey(), "3717005636572528642") {
		t.Errorf("job-finished key %q lacks the msgid", a.DedupKey())
	}
}

func TestInbound_Scene(t *testing.T) {
	tests := []struct {
		name string
		m    wechat.Inbound
		want string
	}{
		{"subscribe by QR", wechat.Inbound{MsgType: "event", Event: "subscribe", EventKey: "qrscene_bind_abc"}, "bind_abc"},
		{"scan", wechat.Inbound{MsgType: "event", Event: "SCAN", EventKey: "bind_abc"}, "bind_abc"},
		{"plain subscribe", wechat.Inbound{MsgType: "event", Event: "subscribe"}, ""},
		{"subscribe without prefix", wechat.Inbound{MsgType: "event", Event: "subscribe", EventKey: "bind_abc"}, ""},
		{"unsubscribe", wechat.Inbound{MsgType: "event", Event: "unsubscribe", EventKey: "qrscene_x"}, ""},
		{"click", wechat.Inbound{MsgType: "event", Event: "CLICK", EventKey: "menu1"}, ""},
		{"text", wechat.Inbound{MsgType: "text", Event: "SCAN", EventKey: "x"}, ""},
	}
	for _, tt := range tests {
		if got := tt.m.Scene(); got != tt.want {
			t.Errorf("%s: Scene() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := mustParse(t, sampleSubscribeQR).Scene(); got != "bind_abc" {
		t.Errorf("parsed subscribe: Scene() = %q", got)
	}
}

func TestInbound_XMLRoundTrip(t *testing.T) {
	for _, body := range []string{sampleText, sampleSubscribe, sampleSubscribeQR, sampleScan, sampleUnsubscribe, sampleSafe, v2Body, templateFinished("failed: system failed")} {
		m := mustParse(t, body)
		if got := mustParse(t, string(m.XML())); got != m {
			t.Errorf("round trip\n got %+v\nwant %+v", got, m)
		}
	}
	tricky := wechat.Inbound{
		ToUserName: "gh_x", FromUserName: "o]]>x", CreateTime: -1, MsgType: "text",
		Content: "]]>]]]>\r\n\r<![CDATA[ & <a href=\"x\">", MsgID: 1, TemplateMsgID: 2, Status: " ",
	}
	if got := mustParse(t, string(tricky.XML())); got != tricky {
		t.Errorf("round trip\n got %+v\nwant %+v", got, tricky)
	}
	x := string(wechat.Inbound{MsgType: "text", MsgID: 5}.XML())
	if x != "<xml><MsgType><![CDATA[text]]></MsgType><MsgId>5</MsgId></xml>" {
		t.Errorf("XML() = %s", x)
	}
	x = string(wechat.Inbound{MsgType: "event", Event: "TEMPLATESENDJOBFINISH", TemplateMsgID: 5}.XML())
	if !strings.Contains(x, "<MsgID>5</MsgID>") || strings.Contains(x, "MsgId") {
		t.Errorf("XML() = %s", x)
	}
}

func TestTextReply(t *testing.T) {
	got := string(wechat.TextReply("oUser", "gh_acc", 12345678, "你好"))
	want := "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_acc]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>"
	if got != want {
		t.Errorf("TextReply =\n%s\nwant\n%s", got, want)
	}
	for _, content := range []string{"", "]]>", "a]]>b]]>", "]]]]>>", "<![CDATA[x]]>", "line1\nline2", "line1\r\nline2\r", "&amp; <b>"} {
		r, err := wechat.ParseReply(wechat.TextReply("oUser", "gh_acc", 1, content))
		if err != nil {
			t.Errorf("%q: %v", content, err)
			continue
		}
		if r != (wechat.Reply{ToUserName: "oUser", FromUserName: "gh_acc", CreateTime: 1, MsgType: "text", Content: content}) {
			t.Errorf("%q: ParseReply = %+v", content, r)
		}
	}
}

func TestParseReply_OfficialSampleAndErrors(t *testing.T) {
	r, err := wechat.ParseReply([]byte(`<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[fromUser]]></FromUserName>
  <CreateTime>12345678</CreateTime>
  <MsgType><![CDATA[image]]></MsgType>
  <Image><MediaId><![CDATA[media_id]]></MediaId></Image>
</xml>`))
	if err != nil || r != (wechat.Reply{ToUserName: "toUser", FromUserName: "fromUser", CreateTime: 12345678, MsgType: "image"}) {
		t.Errorf("ParseReply = %+v, %v", r, err)
	}
	for _, body := range []string{"success", "", "<reply/>", "<xml><CreateTime>x</CreateTime></xml>"} {
		if _, err := wechat.ParseReply([]byte(body)); !errors.Is(err, wechat.ErrBadXML) {
			t.Errorf("ParseReply(%q) err = %v, want ErrBadXML", body, err)
		}
	}
}
