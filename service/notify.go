package service

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wxpush/wxpush/markdown"
	"github.com/wxpush/wxpush/store"
	"github.com/wxpush/wxpush/wechat"
)

// KindNotification is a send in the notification shape — a title and a
// whole content (text or Markdown) — delivered as the notification
// template the admin chose, whose card links to the message's detail page.
// It is stored as a template message.
const KindNotification = "notification"

// MaxContentBytes bounds a message's whole content: what its detail page
// shows. Larger is ETooLarge (HTTP 413).
const MaxContentBytes = 64 << 10

// maxTitleRunes bounds a notification's title (the card cuts it further).
const maxTitleRunes = 100

// pageTokenLen is a detail page token's length: 24 characters of
// [A-Za-z0-9] are about 143 bits.
const pageTokenLen = 24

// A customer-service text longer than one phone screen is cut and links
// its detail page (「查看全文」). A screen of WeChat's chat holds about
// 12 lines of 18 Chinese characters.
const (
	textScreenRunes = 200
	textScreenLines = 12
)

// PageURL is the address of a detail page.
func (s *Service) PageURL(token string) string {
	return s.cfg.BaseURL.JoinPath("/m", token).String()
}

// ReasonTooLarge is the reason of an ETooLarge send.
const ReasonTooLarge = "too_large"

// checkSize refuses content over MaxContentBytes before anything else is
// looked at: a clear 413 rather than a list of field errors.
func checkSize(r SendRequest) error {
	for field, v := range map[string]string{"text": r.Text, "content": r.Content} {
		if len(v) > MaxContentBytes {
			msg := fmt.Sprintf("内容太大：最多 %d KB，现在 %.1f KB。", MaxContentBytes>>10, float64(len(v))/1024)
			return &Error{Code: ETooLarge, Reason: ReasonTooLarge, Message: msg, Fields: map[string]string{field: msg}}
		}
	}
	return nil
}

// newPage starts a message's detail page with a fresh token.
func newPage(title, content, contentType string) *store.Page {
	return &store.Page{Token: store.RandomToken(pageTokenLen), Title: title, Content: content, ContentType: contentType}
}

// trimContent drops surrounding blank lines and trailing spaces, but keeps
// the first line's indentation (an indented Markdown code block).
func trimContent(s string) string {
	s = strings.TrimRightFunc(s, unicode.IsSpace)
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok || strings.TrimSpace(line) != "" {
			return s
		}
		s = rest
	}
}

// checkNotification validates a notification and lays it onto the
// notification template; field errors name the request's own fields
// (title, content, summary, content_type, url), and "template" when the
// admin's template choice is at fault.
func (s *Service) checkNotification(ctx context.Context, r SendRequest, fe fieldErrors) (store.Message, error) {
	if r.NoFallback {
		fe.add("fallback", "只有客服消息（text）会改用模板消息。")
	}
	title := strings.TrimSpace(r.Title)
	content := trimContent(r.Content)
	ct := r.ContentType
	switch {
	case ct == "":
		ct = store.ContentText
	case ct != store.ContentText && ct != store.ContentMarkdown:
		fe.add("content_type", "只能是 text（纯文本）或 markdown。")
	}
	switch {
	case title == "":
		fe.add("title", "请填写标题。")
	case utf8.RuneCountInString(title) > maxTitleRunes:
		fe.add("title", fmt.Sprintf("标题最多 %d 个字。", maxTitleRunes))
	case strings.ContainsAny(title, "\r\n"):
		fe.add("title", "标题只能有一行。")
	}
	if !utf8.ValidString(title) || !utf8.ValidString(content) || !utf8.ValidString(r.Summary) {
		fe.add("content", "内容不是有效的 UTF-8 文本。")
	}
	m := store.Message{Kind: store.KindTemplate}
	link, ok := checkURL(r.URL)
	if !ok {
		fe.add("url", "链接需以 http:// 或 https:// 开头。")
	}
	nt, tpl, err := s.SendKeyTemplate(ctx)
	if ErrorCode(err) == ENotFound {
		if len(fe) > 0 {
			return m, nil // the request's own faults first
		}
		return m, &Error{Code: EUnavailable, Reason: "no_template", Message: "管理员还没有设置通知使用的模板消息（管理后台 → 模板）。"}
	}
	if err != nil {
		return m, err
	}
	page := newPage(title, content, ct)
	data, summaryFrom := s.NotificationData(nt, tpl, title, r.Summary, content, ct)
	keys := wechat.Template{Content: tpl.Content}.Keys()
	field := func(k string) string {
		switch k {
		case nt.TitleKey:
			return "title"
		case nt.ContentKey:
			return summaryFrom
		}
		return "template"
	}
	for _, k := range keys {
		if data[k] == "" && k != "first" && k != "remark" && k != nt.TitleKey {
			fe.add(field(k), fmt.Sprintf("通知模板「%s」的字段 %s 没有对应的内容：请管理员在 管理后台 → 模板 重新设置通知模板。", tpl.Title, k))
		}
	}
	for _, e := range wechat.CheckTemplateData(keys, data) {
		fe.add(field(e.Key), e.Msg)
	}
	if link == "" {
		link = s.PageURL(page.Token)
	}
	m.TemplateID, m.Data, m.URL, m.Page = tpl.ID, data, link, page
	return m, nil
}

// checkURL validates a sender's link: empty, or absolute http(s).
func checkURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", true
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return raw, false
	}
	return raw, true
}

// NotificationData fills the notification template's fields: the title,
// the summary (the sender's, or derived from the content, or the title)
// and the time, each fitted to its field's rule. summaryFrom names the
// request field the summary came from ("summary" or "content"), for
// error messages.
func (s *Service) NotificationData(nt SendKeyTemplate, tpl store.Template, title, summary, content, contentType string) (data map[string]string, summaryFrom string) {
	summaryFrom = "summary"
	summary = strings.TrimSpace(summary)
	if summary == "" {
		summaryFrom = "content"
		summary = Summarize(content, contentType)
		if summary == "" {
			summary = title
		}
	}
	data = map[string]string{}
	for _, k := range (wechat.Template{Content: tpl.Content}).Keys() {
		switch k {
		case nt.TitleKey:
			data[k] = FitField(k, strings.TrimSpace(title))
		case nt.ContentKey:
			data[k] = fitSummary(k, summary)
		case nt.TimeKey:
			data[k] = fieldTime(k, s.now())
		}
	}
	return data, summaryFrom
}

// Summarize is content as one line of plain text (Markdown's markup
// dropped, white space collapsed), for a card's summary field.
func Summarize(content, contentType string) string {
	if contentType == store.ContentMarkdown {
		content = markdown.PlainText(content)
	}
	return strings.Join(strings.Fields(content), " ")
}

// summaryRunes is how much of a summary a field shows: a category
// template's typed key has WeChat's limit (docs/wechat.md, "Template
// message": thing ≤ 20 characters, phrase ≤ 5, const ≤ 20); a free-form
// key takes a line's worth.
func summaryRunes(key string) (n int, ellipsis bool) {
	switch strings.TrimRight(key, "0123456789") {
	case "thing", "const":
		return 20, true
	case "phrase":
		return 5, false // Chinese characters only: no room for "…"
	case "name":
		return 10, false
	}
	return 64, true
}

// fitSummary cuts a summary to its field, at a character boundary, marking
// the cut with "…" where the field allows it.
func fitSummary(key, v string) string {
	n, ellipsis := summaryRunes(key)
	if utf8.RuneCountInString(v) <= n {
		return v
	}
	if ellipsis {
		return CutText(v, n-1) + "…"
	}
	return CutText(v, n)
}

// CutText returns at most n characters of s, never splitting a character:
// not a UTF-8 sequence, and not the marks, joiners and variation selectors
// that belong to the character before them.
func CutText(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	// Back off while what follows the cut continues the last character.
	for i > 0 && i < len(s) {
		next, _ := utf8.DecodeRuneInString(s[i:])
		last, size := utf8.DecodeLastRuneInString(s[:i])
		if !continuesCharacter(next) && last != '\u200d' {
			break
		}
		i -= size
	}
	return s[:i]
}

func continuesCharacter(r rune) bool {
	return unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Mc, r) ||
		r == '\u200d' || (r >= '\ufe00' && r <= '\ufe0f') || (r >= 0x1f3fb && r <= 0x1f3ff) || (r >= 0xe0100 && r <= 0xe01ef)
}

// fieldTime is the send time as a field of its type takes it
// (docs/wechat.md, "Template message": time "2019年10月1日 15:01", date
// "2019年10月1日"), in Beijing time.
func fieldTime(key string, t time.Time) string {
	t = t.In(beijing)
	switch strings.TrimRight(key, "0123456789") {
	case "time":
		return t.Format("2006年1月2日 15:04")
	case "date":
		return t.Format("2006年1月2日")
	}
	return t.Format("2006-01-02 15:04")
}

// TextBody is what a customer-service text sends of its content: all of it
// when it fits one phone screen (and WeChat's size limit), else its start,
// cut at a character boundary, then a 「查看全文」 link to the detail page.
// Text may hold <a href> links (docs/wechat.md, "Customer-service
// message"); the cut never falls inside one.
func TextBody(text, pageURL string) string {
	lines := strings.Split(text, "\n")
	if utf8.RuneCountInString(text) <= textScreenRunes && len(lines) <= textScreenLines && len(text) <= MaxTextBytes {
		return text
	}
	if len(lines) > textScreenLines {
		text = strings.Join(lines[:textScreenLines], "\n")
	}
	cut := CutText(text, textScreenRunes)
	if open := strings.LastIndex(cut, "<a "); open >= 0 && !strings.Contains(cut[open:], "</a>") {
		cut = cut[:open]
	}
	return strings.TrimRightFunc(cut, unicode.IsSpace) + "…\n\n" + `<a href="` + pageURL + `">查看全文</a>`
}

// firstLine is a text's first non-empty line, shortened, as a title for
// its detail page and lists.
func firstLine(text string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(stripLinks(line)); line != "" {
			if utf8.RuneCountInString(line) > 30 {
				return CutText(line, 29) + "…"
			}
			return line
		}
	}
	return ""
}

var linkTag = regexp.MustCompile(`(?i)</?a\b[^>]*>`)

// stripLinks drops a text's <a> tags, keeping their words.
func stripLinks(s string) string { return linkTag.ReplaceAllString(s, "") }

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\}`)

// templateText is a template message as text, for its detail page: the
// template's lines with the values in place; first and remark, which
// WeChat no longer shows (docs/wechat.md, "Template message"), left out.
func templateText(content string, data map[string]string) string {
	var out []string
	for line := range strings.SplitSeq(content, "\n") {
		keys := placeholderRE.FindAllStringSubmatch(line, -1)
		if len(keys) > 0 && !slices.ContainsFunc(keys, func(k []string) bool { return k[1] != "first" && k[1] != "remark" }) {
			continue
		}
		line = placeholderRE.ReplaceAllStringFunc(line, func(p string) string {
			return data[placeholderRE.FindStringSubmatch(p)[1]]
		})
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
