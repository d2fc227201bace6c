package wechat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrBadXML is wrapped by every error of ParseInbound, ParseReply and
// DecryptReply about the document itself.
var ErrBadXML = errors.New("wechat: malformed message XML")

// Inbound is a message or event pushed to the server URL (docs/wechat.md §7; formats in
// docs/wechat-details.md §6.3, docs/wechat-details.md §3.2, docs/wechat-details.md §4.2). Fields absent from the XML stay
// zero; element types wxpush does not use (PicUrl, Location_X, …) are
// ignored.
type Inbound struct {
	ToUserName, FromUserName string
	CreateTime               int64
	MsgType                  string // text, image, voice, video, shortvideo, location, link, event
	Content                  string // text
	MsgID                    int64  // <MsgId> of user messages (64-bit)
	Event                    string // subscribe, unsubscribe, SCAN, CLICK, VIEW, TEMPLATESENDJOBFINISH, ...
	EventKey                 string
	Ticket                   string
	TemplateMsgID            int64  // <MsgID> of TEMPLATESENDJOBFINISH: same name as MsgId, other case
	Status                   string // TEMPLATESENDJOBFINISH: "success", "failed:user block", "failed: system failed"
	Encrypt                  string // safe and compatible mode (docs/wechat.md §8)
}

// Event names used by wxpush (docs/wechat.md §7).
const (
	EventSubscribe            = "subscribe"
	EventUnsubscribe          = "unsubscribe"
	EventScan                 = "SCAN"
	EventTemplateSendFinished = "TEMPLATESENDJOBFINISH"
)

// qrScenePrefix starts the EventKey of a subscribe caused by a parameterized
// QR code (docs/wechat.md §3).
const qrScenePrefix = "qrscene_"

var inboundFields = map[string]bool{
	"ToUserName": true, "FromUserName": true, "CreateTime": true, "MsgType": true,
	"Content": true, "MsgId": true, "Event": true, "EventKey": true, "Ticket": true,
	"MsgID": true, "Status": true, "Encrypt": true,
}

// ParseInbound parses a pushed message. The root must be <xml>; DOCTYPE
// declarations, unknown entities and non-XML input are rejected with an
// error wrapping ErrBadXML, as are numbers that are not 64-bit integers.
func ParseInbound(body []byte) (Inbound, error) {
	f, err := parseFields(body, inboundFields)
	if err != nil {
		return Inbound{}, err
	}
	m := Inbound{
		ToUserName:   f["ToUserName"],
		FromUserName: f["FromUserName"],
		MsgType:      f["MsgType"],
		Content:      f["Content"],
		Event:        f["Event"],
		EventKey:     f["EventKey"],
		Ticket:       f["Ticket"],
		Status:       f["Status"],
		Encrypt:      f["Encrypt"],
	}
	for _, n := range []struct {
		name string
		dst  *int64
	}{{"CreateTime", &m.CreateTime}, {"MsgId", &m.MsgID}, {"MsgID", &m.TemplateMsgID}} {
		if *n.dst, err = parseInt(f, n.name); err != nil {
			return Inbound{}, err
		}
	}
	return m, nil
}

func parseInt(f map[string]string, name string) (int64, error) {
	s, ok := f[name]
	if !ok {
		return 0, nil
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: <%s> is not a 64-bit integer", ErrBadXML, name)
	}
	return n, nil
}

// DedupKey identifies a push across WeChat's retries (docs/wechat.md §7): messages by
// MsgId; events by FromUserName, CreateTime and Event, plus the quoted msgid
// for job-finished events (two template messages to one user may finish in
// the same second).
func (m Inbound) DedupKey() string {
	if m.MsgType != "event" && m.MsgID != 0 {
		return "msg|" + strconv.FormatInt(m.MsgID, 10)
	}
	k := "event|" + m.FromUserName + "|" + strconv.FormatInt(m.CreateTime, 10) + "|" + m.Event
	if m.MsgType != "event" {
		k = "msg|" + m.FromUserName + "|" + strconv.FormatInt(m.CreateTime, 10) + "|" + m.MsgType
	}
	if m.TemplateMsgID != 0 {
		k += "|" + strconv.FormatInt(m.TemplateMsgID, 10)
	}
	return k
}

// Scene returns the scene of a parameterized QR code scanned (docs/wechat.md §3): a
// subscribe event's EventKey without its "qrscene_" prefix, or a SCAN
// event's EventKey. Anything else (a plain follow, a menu click) is "".
func (m Inbound) Scene() string {
	if m.MsgType != "event" {
		return ""
	}
	switch m.Event {
	case EventSubscribe:
		if s, ok := strings.CutPrefix(m.EventKey, qrScenePrefix); ok {
			return s
		}
	case EventScan:
		return m.EventKey
	}
	return ""
}

// XML renders m as WeChat would push it: non-empty fields only, strings in
// CDATA, user messages' id as <MsgId>, job-finished events' as <MsgID>.
func (m Inbound) XML() []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	str := func(name, v string) {
		if v != "" {
			writeElementCDATA(&b, name, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			b.WriteString("<" + name + ">" + strconv.FormatInt(v, 10) + "</" + name + ">")
		}
	}
	str("ToUserName", m.ToUserName)
	str("FromUserName", m.FromUserName)
	num("CreateTime", m.CreateTime)
	str("MsgType", m.MsgType)
	str("Content", m.Content)
	num("MsgId", m.MsgID)
	str("Event", m.Event)
	str("EventKey", m.EventKey)
	str("Ticket", m.Ticket)
	num("MsgID", m.TemplateMsgID)
	str("Status", m.Status)
	str("Encrypt", m.Encrypt)
	b.WriteString("</xml>")
	return b.Bytes()
}

// Reply is a passive reply (docs/wechat.md §7) as WeChat reads it; only text replies carry
// Content.
type Reply struct {
	ToUserName, FromUserName string
	CreateTime               int64
	MsgType, Content         string
}

var replyFields = map[string]bool{
	"ToUserName": true, "FromUserName": true, "CreateTime": true, "MsgType": true, "Content": true,
}

// ParseReply parses a plain passive reply, with the rules of ParseInbound.
func ParseReply(body []byte) (Reply, error) {
	f, err := parseFields(body, replyFields)
	if err != nil {
		return Reply{}, err
	}
	ct, err := parseInt(f, "CreateTime")
	if err != nil {
		return Reply{}, err
	}
	return Reply{
		ToUserName:   f["ToUserName"],
		FromUserName: f["FromUserName"],
		CreateTime:   ct,
		MsgType:      f["MsgType"],
		Content:      f["Content"],
	}, nil
}

// TextReply renders a passive text reply (docs/wechat.md §7): toUser is the follower's
// openid (the message's FromUserName), fromUser the account (its
// ToUserName).
func TextReply(toUser, fromUser string, createTime int64, content string) []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	writeElementCDATA(&b, "ToUserName", toUser)
	writeElementCDATA(&b, "FromUserName", fromUser)
	b.WriteString("<CreateTime>" + strconv.FormatInt(createTime, 10) + "</CreateTime>")
	writeElementCDATA(&b, "MsgType", "text")
	writeElementCDATA(&b, "Content", content)
	b.WriteString("</xml>")
	return b.Bytes()
}

func writeElementCDATA(b *bytes.Buffer, name, v string) {
	b.WriteString("<" + name + ">")
	writeCDATA(b, v)
	b.WriteString("</" + name + ">")
}

// cdataEscaper keeps CDATA text intact: a section cannot contain "]]>", so
// it is split between "]]" and ">"; a carriage return would be read back as
// a newline (XML end-of-line handling), so it leaves the section as &#13;.
var cdataEscaper = strings.NewReplacer("]]>", "]]]]><![CDATA[>", "\r", "]]>&#13;<![CDATA[")

// writeCDATA writes v as CDATA sections (see cdataEscaper).
func writeCDATA(b *bytes.Buffer, v string) {
	b.WriteString("<![CDATA[")
	cdataEscaper.WriteString(b, v)
	b.WriteString("]]>")
}

func writeEscaped(b *bytes.Buffer, v string) {
	_ = xml.EscapeText(b, []byte(v)) // a bytes.Buffer does not fail
}

// parseFields reads a flat <xml> document: the text of each child element
// named in known. Other children are skipped whatever they hold. It is
// stricter than encoding/xml's Unmarshal: the root must be <xml>, no
// DOCTYPE or other directive, no text directly in the root, no element
// inside a known field, no known field twice, nothing after the root.
func parseFields(body []byte, known map[string]bool) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadXML}, args...)...)
	}
	fields := make(map[string]string)
	// depth: 0 before the root, 1 inside it, 2 inside a known field.
	depth, rootDone := 0, false
	var field string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bad("%v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, bad("directives (DOCTYPE) are not allowed")
		case xml.ProcInst:
			if depth != 0 || rootDone {
				return nil, bad("misplaced processing instruction")
			}
		case xml.Comment:
		case xml.CharData:
			switch depth {
			case 2:
				text.Write(t)
			default:
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, bad("text outside the fields")
				}
			}
		case xml.StartElement:
			switch {
			case depth == 0 && rootDone:
				return nil, bad("content after the root element")
			case depth == 0:
				if t.Name.Local != "xml" || t.Name.Space != "" {
					return nil, bad("root element is <%s>, want <xml>", t.Name.Local)
				}
				depth = 1
			case depth == 1 && known[t.Name.Local] && t.Name.Space == "":
				if _, dup := fields[t.Name.Local]; dup {
					return nil, bad("<%s> appears twice", t.Name.Local)
				}
				field = t.Name.Local
				text.Reset()
				depth = 2
			case depth == 1:
				if err := d.Skip(); err != nil {
					return nil, bad("%v", err)
				}
			default:
				return nil, bad("element inside <%s>", field)
			}
		case xml.EndElement:
			switch depth {
			case 2:
				fields[field] = text.String()
				depth = 1
			case 1:
				depth, rootDone = 0, true
			}
		}
	}
	if !rootDone {
		return nil, bad("no <xml> root element")
	}
	return fields, nil
}
