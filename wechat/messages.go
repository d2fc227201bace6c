package wechat

import (
	"context"
	"net/url"
	"regexp"
	"strings"
)

// TemplateMessage is one template message to one follower (docs/wechat.md §4).
type TemplateMessage struct {
	ToUser     string
	TemplateID string
	URL        string // optional jump link
	// ClientMsgID is an optional de-duplication key: for the same openid and
	// client_msg_id WeChat sends one message within about 10 minutes (docs/wechat.md §4),
	// so a resend after a crash is harmless.
	ClientMsgID string
	Data        map[string]string // placeholder key → value
}

type templateValue struct {
	Value string `json:"value"`
}

// SendTemplate sends a template message and returns WeChat's msgid, which
// the TEMPLATESENDJOBFINISH event quotes later (docs/wechat.md §4). The msgid is a 64-bit
// integer decoded without passing through a float (docs/wechat.md §0); it is 0 if WeChat
// accepted the message without answering one.
func (c *Client) SendTemplate(ctx context.Context, accessToken string, m TemplateMessage) (msgID int64, err error) {
	data := make(map[string]templateValue, len(m.Data))
	for k, v := range m.Data {
		data[k] = templateValue{v}
	}
	body := struct {
		ToUser      string                   `json:"touser"`
		TemplateID  string                   `json:"template_id"`
		URL         string                   `json:"url,omitempty"`
		ClientMsgID string                   `json:"client_msg_id,omitempty"`
		Data        map[string]templateValue `json:"data"`
	}{m.ToUser, m.TemplateID, m.URL, m.ClientMsgID, data}
	var r struct {
		MsgID int64 `json:"msgid"`
	}
	q := url.Values{"access_token": {accessToken}}
	if err := c.postJSON(ctx, "/cgi-bin/message/template/send", q, body, &r); err != nil {
		return 0, err
	}
	return r.MsgID, nil
}

// SendText sends a customer-service text message. WeChat accepts it only
// inside a window opened by the user (45015 outside it, 45047 when its count
// is used up, docs/wechat.md §4); content may hold <a href="..."> links.
func (c *Client) SendText(ctx context.Context, accessToken, openid, content string) error {
	type text struct {
		Content string `json:"content"`
	}
	body := struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    text   `json:"text"`
	}{openid, "text", text{content}}
	q := url.Values{"access_token": {accessToken}}
	return c.postJSON(ctx, "/cgi-bin/message/custom/send", q, body, nil)
}

// Template is one of the account's templates (docs/wechat.md §4).
type Template struct {
	ID, Title, PrimaryIndustry, DeputyIndustry, Content, Example string
}

// placeholder matches {{key.DATA}}, and also "{ {key.DATA} }" as WeChat's
// doc site renders it (docs/wechat-details.md §4.3).
var placeholder = regexp.MustCompile(`\{\s*\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\s*\}`)

// Keys returns the data keys of the template: its {{key.DATA}} placeholders
// in order of appearance, each once.
func (t Template) Keys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(t.Content, -1) {
		if k := m[1]; !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// Templates lists the account's templates
// (GET /cgi-bin/template/get_all_private_template, docs/wechat.md §4).
func (c *Client) Templates(ctx context.Context, accessToken string) ([]Template, error) {
	var r struct {
		List []struct {
			ID              string `json:"template_id"`
			Title           string `json:"title"`
			PrimaryIndustry string `json:"primary_industry"`
			DeputyIndustry  string `json:"deputy_industry"`
			Content         string `json:"content"`
			Example         string `json:"example"`
		} `json:"template_list"`
	}
	q := url.Values{"access_token": {accessToken}}
	if err := c.getJSON(ctx, "/cgi-bin/template/get_all_private_template", q, &r); err != nil {
		return nil, err
	}
	ts := make([]Template, 0, len(r.List))
	for _, t := range r.List {
		ts = append(ts, Template{
			ID:              t.ID,
			Title:           t.Title,
			PrimaryIndustry: t.PrimaryIndustry,
			DeputyIndustry:  t.DeputyIndustry,
			Content:         t.Content,
			Example:         t.Example,
		})
	}
	return ts, nil
}

// keyPrefix is a category-template key without its trailing digits:
// thing1 → thing, character_string12 → character_string.
func keyPrefix(key string) string {
	return strings.TrimRight(key, "0123456789")
}
