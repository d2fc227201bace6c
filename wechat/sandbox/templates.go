package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Template is a template message template of the account (docs/wechat.md §4,
// docs/wechat-details.md §4.3). Its fields are the {{key.DATA}} placeholders of Content.
type Template struct {
	ID, Title, Content              string
	PrimaryIndustry, DeputyIndustry string
	Example                         string
	fields                          []Field // placeholders in order; Label from Content, Value empty
}

// Keys are the template's data keys in order, first and remark included.
func (t Template) Keys() []string {
	keys := make([]string, len(t.fields))
	for i, f := range t.fields {
		keys[i] = f.Key
	}
	return keys
}

// templateSet is immutable once stored: AddTemplate stores a new one, so
// sends look templates up without locking.
type templateSet struct {
	list []*Template
	byID map[string]*Template
}

// sampleTemplates are there from the start: two category templates with
// typed keys (the kind new accounts get since 2023) and a free-form one as
// the test account allows (docs/wechat.md §4, docs/wechat-details.md §4.2).
var sampleTemplates = []struct{ title, content string }{
	{"服务状态通知", "服务名称:{{thing1.DATA}}\n状态:{{phrase2.DATA}}\n时间:{{time3.DATA}}"},
	{"订单发货提醒", "订单号:{{character_string1.DATA}}\n商品名称:{{thing2.DATA}}\n订单金额:{{amount3.DATA}}"},
	{"测试消息", "{{first.DATA}}\n内容：{{content.DATA}}\n{{remark.DATA}}"},
}

const (
	maxTemplates       = 25 // templates in use per account (docs/wechat-details.md §4.2)
	maxTemplateTitle   = 32 // runes; undocumented, generous
	maxTemplateContent = 2000
)

// TemplateID derives the id of the template titled title in app appID.
// Like real ids it is 43 base64url characters; it is deterministic so that
// a restarted sandbox knows the templates the app stored.
func TemplateID(appID, title string) string {
	sum := sha256.Sum256([]byte(appID + "\x00template\x00" + title))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// placeholderRE matches what looks like a placeholder; valid ones are
// {{key.DATA}} (docs/wechat-details.md §4.3 allows spaces inside the braces).
var (
	placeholderRE = regexp.MustCompile(`\{\{(.*?)\}\}`)
	validKeyRE    = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9_]*)\.DATA\s*$`)
)

// AddTemplate adds a template, as the test account lets you write any
// content: every {{…}} must be {{key.DATA}} with a distinct key, and there
// must be at least one. Adding the same title and content again returns the
// existing template; the same title with other content is an error.
func (s *Sandbox) AddTemplate(title, content string) (Template, error) {
	t, err := s.newTemplate(title, content)
	if err != nil {
		return Template{}, err
	}
	s.tmplMu.Lock()
	defer s.tmplMu.Unlock()
	old := s.templates.Load()
	if have, ok := old.byID[t.ID]; ok {
		if have.Content != t.Content {
			return Template{}, fmt.Errorf("已有标题为「%s」的模板", t.Title)
		}
		return *have, nil
	}
	if len(old.list) >= maxTemplates {
		return Template{}, fmt.Errorf("模板已达上限 %d 个", maxTemplates)
	}
	next := &templateSet{list: append(old.list[:len(old.list):len(old.list)], t), byID: make(map[string]*Template, len(old.byID)+1)}
	for id, v := range old.byID {
		next.byID[id] = v
	}
	next.byID[t.ID] = t
	s.templates.Store(next)
	s.mu.Lock()
	s.changedLocked(recTemplates)
	s.mu.Unlock()
	return *t, nil
}

// newTemplate validates and parses a template (AddTemplate's rules).
func (s *Sandbox) newTemplate(title, content string) (*Template, error) {
	title = strings.TrimSpace(title)
	content = strings.TrimSpace(strings.ReplaceAll(content, "\r\n", "\n"))
	switch {
	case title == "":
		return nil, errors.New("模板标题不能为空")
	case utf8.RuneCountInString(title) > maxTemplateTitle:
		return nil, fmt.Errorf("模板标题最多 %d 个字", maxTemplateTitle)
	case !utf8.ValidString(title) || !utf8.ValidString(content):
		return nil, errors.New("模板不是有效的 UTF-8 文本")
	case utf8.RuneCountInString(content) > maxTemplateContent:
		return nil, fmt.Errorf("模板内容最多 %d 个字", maxTemplateContent)
	}
	fields, err := parseTemplate(content)
	if err != nil {
		return nil, err
	}
	t := &Template{
		ID:              TemplateID(s.opts.AppID, title),
		Title:           title,
		Content:         content,
		PrimaryIndustry: "IT科技",
		DeputyIndustry:  "互联网|电子商务",
		fields:          fields,
	}
	t.Example = example(t)
	return t, nil
}

// Templates lists the account's templates in the order they were added.
func (s *Sandbox) Templates() []Template {
	set := s.templates.Load()
	out := make([]Template, len(set.list))
	for i, t := range set.list {
		out[i] = *t
	}
	return out
}

// parseTemplate finds the placeholders of content. A placeholder's label is
// the text before it on its line (after the previous placeholder, if any),
// without a trailing colon: "订单号:{{character_string1.DATA}}" → 订单号.
func parseTemplate(content string) ([]Field, error) {
	if strings.Count(content, "{{") != strings.Count(content, "}}") {
		return nil, errors.New("模板内容中的 {{ 与 }} 不成对")
	}
	var fields []Field
	seen := map[string]bool{}
	for line := range strings.SplitSeq(content, "\n") {
		prev := 0
		for _, loc := range placeholderRE.FindAllStringSubmatchIndex(line, -1) {
			m := validKeyRE.FindStringSubmatch(line[loc[2]:loc[3]])
			if m == nil {
				return nil, fmt.Errorf("占位符 %s 无效：应形如 {{keyword1.DATA}}", line[loc[0]:loc[1]])
			}
			if seen[m[1]] {
				return nil, fmt.Errorf("占位符 %s 重复", m[1])
			}
			seen[m[1]] = true
			label := strings.TrimSpace(line[prev:loc[0]])
			label = strings.TrimSpace(strings.TrimRight(label, ":："))
			fields = append(fields, Field{Key: m[1], Label: label})
			prev = loc[1]
		}
	}
	if len(fields) == 0 {
		return nil, errors.New("模板内容至少需要一个 {{关键词.DATA}} 占位符")
	}
	return fields, nil
}

// example fills the template with a sample value for each key, as
// get_all_private_template's "example" does; first and remark are left
// out, as WeChat no longer shows them.
func example(t *Template) string {
	out := t.Content
	for _, f := range t.fields {
		v := sampleValue(f.Key)
		out = placeholderRE.ReplaceAllStringFunc(out, func(p string) string {
			if m := validKeyRE.FindStringSubmatch(p[2 : len(p)-2]); m != nil && m[1] == f.Key {
				return v
			}
			return p
		})
	}
	return strings.TrimSpace(out)
}

func sampleValue(key string) string {
	switch keyType(key) {
	case "first", "remark":
		return ""
	case "thing":
		return "示例服务"
	case "phrase":
		return "已完成"
	case "time":
		return "2025年3月1日 10:00"
	case "date":
		return "2025年3月1日"
	case "character_string":
		return "SN20250301001"
	case "amount":
		return "¥39.80"
	case "number":
		return "3"
	case "letter":
		return "ABC"
	case "symbol":
		return "%"
	case "phone_number":
		return "+86-0766-66888866"
	case "car_number":
		return "粤A8Z888挂"
	case "name":
		return "张三"
	case "const":
		return "已发货"
	}
	return "示例内容"
}

// keyType is a data key's type: the key without trailing digits
// (thing1 → thing, character_string12 → character_string; docs/wechat-details.md §4.2).
func keyType(key string) string { return strings.TrimRight(key, "0123456789") }

// typedKeys are the key types of category templates (docs/wechat-details.md §4.2).
var typedKeys = map[string]bool{
	"thing": true, "number": true, "letter": true, "symbol": true, "character_string": true,
	"time": true, "date": true, "amount": true, "phone_number": true, "car_number": true,
	"name": true, "phrase": true, "const": true,
}

// droppedKey: since May 2023 first and remark are filtered out silently
// (docs/wechat.md §4).
func droppedKey(key string) bool { return key == "first" || key == "remark" }

// checkData validates the send's data against the template's typed keys
// in template order: a missing or blank value → "argument invalid!
// data.KEY.value is empty", a value breaking its type's rule (docs/wechat-details.md §4.2
// table) → "… invalid". Emoji are stripped first (the 2023 rule), so a
// value of emoji only is empty. Keys of unknown type (keyword1, content:
// old-style templates) take free text and may be left out, as
// wechat.CheckTemplateData assumes; the docs document neither way. It
// returns the fields as the phone shows them, or the errmsg.
func (t *Template) checkData(data map[string]dataItem) ([]Field, string) {
	fields := make([]Field, 0, len(t.fields))
	for _, f := range t.fields {
		if droppedKey(f.Key) {
			continue
		}
		v := stripEmoji(data[f.Key].Value)
		typ := keyType(f.Key)
		if strings.TrimSpace(v) == "" && typedKeys[typ] {
			return nil, "argument invalid! data." + f.Key + ".value is empty"
		}
		if !validValue(typ, v) {
			return nil, "argument invalid! data." + f.Key + ".value invalid"
		}
		f.Value = v
		fields = append(fields, f)
	}
	return fields, ""
}

// validValue applies the category-template rules (docs/wechat-details.md §4.2). Where the
// table is loose the sandbox is lenient, in step with
// wechat.CheckTemplateData: amount's currency symbol is optional,
// character_string allows any printable ASCII, time accepts a full-width
// colon.
func validValue(typ, v string) bool {
	n := utf8.RuneCountInString(v)
	switch typ {
	case "thing", "const":
		return n <= 20 && noControl(v)
	case "phrase":
		return n <= 5 && all(v, isHan)
	case "character_string":
		return n <= 32 && all(v, func(r rune) bool { return r >= 0x20 && r < 0x7f })
	case "number":
		return n <= 32 && numberRE.MatchString(v)
	case "letter":
		return n <= 32 && all(v, func(r rune) bool { return r < 0x80 && unicode.IsLetter(r) })
	case "symbol":
		return n <= 5 && all(v, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) })
	case "amount":
		return amountRE.MatchString(v)
	case "time":
		return rangeOf(v, validTime)
	case "date":
		return rangeOf(v, validDate)
	case "phone_number":
		return n <= 17 && all(v, func(r rune) bool {
			return r < utf8.RuneSelf && (unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ')
		})
	case "car_number":
		return validCarNumber(v)
	case "name":
		// Mixed Chinese and Latin counts as Chinese.
		if all(v, func(r rune) bool { return r < utf8.RuneSelf }) {
			return n <= 20 && noControl(v)
		}
		return n <= 10 && noControl(v)
	}
	return noControl(v) // free text: old-style keys
}

var (
	numberRE = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)
	amountRE = regexp.MustCompile(`^[¥￥$€£]?[0-9]{1,10}(\.[0-9]+)?元?$`)
	// dateRE: 2019年10月1日, 2019-10-01, 2019/10/01, 10月1日.
	dateRE = regexp.MustCompile(`^(?:([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日|([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})|([0-9]{1,2})月([0-9]{1,2})日)$`)
	timeRE = regexp.MustCompile(`^([0-9]{1,2})[:：]([0-9]{2})(?:[:：]([0-9]{2}))?$`)
)

// rangeOf accepts "A" or "A~B" (spaces allowed around ~, full-width ～
// too) where each side passes ok.
func rangeOf(v string, ok func(string) bool) bool {
	a, b, isRange := strings.Cut(strings.ReplaceAll(v, "～", "~"), "~")
	if !isRange {
		return ok(strings.TrimSpace(v))
	}
	return ok(strings.TrimSpace(a)) && ok(strings.TrimSpace(b))
}

// validTime: a 24-hour time, optionally after a date ("15:01",
// "2019年10月1日 15:01").
func validTime(v string) bool {
	d, t := splitDateTime(v)
	return validClock(t) && (d == "" || validDateOnly(d))
}

// validDate: a date, optionally followed by a time.
func validDate(v string) bool {
	if validDateOnly(v) {
		return true
	}
	d, t := splitDateTime(v)
	return d != "" && validDateOnly(d) && validClock(t)
}

// splitDateTime splits "DATE TIME" or "DATE日TIME"; d is "" when v has no
// date part.
func splitDateTime(v string) (d, t string) {
	v = strings.TrimSpace(v)
	sp := strings.LastIndexByte(v, ' ')
	if ri := strings.LastIndex(v, "日"); ri >= 0 && ri+len("日") > sp {
		return v[:ri+len("日")], strings.TrimSpace(v[ri+len("日"):])
	}
	if sp >= 0 {
		return strings.TrimSpace(v[:sp]), v[sp+1:]
	}
	return "", v
}

func validClock(t string) bool {
	m := timeRE.FindStringSubmatch(t)
	if m == nil {
		return false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec := 0
	if m[3] != "" {
		sec, _ = strconv.Atoi(m[3])
	}
	return h <= 23 && mi <= 59 && sec <= 59
}

func validDateOnly(d string) bool {
	m := dateRE.FindStringSubmatch(strings.TrimSpace(d))
	if m == nil {
		return false
	}
	var mo, day string
	switch {
	case m[1] != "":
		mo, day = m[2], m[3]
	case m[4] != "":
		mo, day = m[5], m[6]
	default:
		mo, day = m[7], m[8]
	}
	a, _ := strconv.Atoi(mo)
	b, _ := strconv.Atoi(day)
	return 1 <= a && a <= 12 && 1 <= b && b <= 31
}

// validCarNumber: ≤ 8 characters, letters and digits, the first and last
// may be Chinese (粤A8Z888挂).
func validCarNumber(v string) bool {
	rs := []rune(v)
	if len(rs) == 0 || len(rs) > 8 {
		return false
	}
	for i, r := range rs {
		alnum := r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r))
		if !alnum && !((i == 0 || i == len(rs)-1) && isHan(r)) {
			return false
		}
	}
	return true
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func all(v string, ok func(rune) bool) bool {
	for _, r := range v {
		if !ok(r) {
			return false
		}
	}
	return true
}

func noControl(v string) bool {
	return all(v, func(r rune) bool { return !unicode.IsControl(r) || r == '\n' })
}

// stripEmoji removes emoji, as WeChat does with template data since May
// 2023 (docs/wechat.md §4): pictographs, dingbats, flags, keycaps' combining mark,
// skin-tone modifiers, variation selectors and zero-width joiners.
func stripEmoji(v string) string {
	if !hasEmoji(v) {
		return v
	}
	return strings.Map(func(r rune) rune {
		if isEmoji(r) {
			return -1
		}
		return r
	}, v)
}

func hasEmoji(v string) bool {
	for _, r := range v {
		if isEmoji(r) {
			return true
		}
	}
	return false
}

func isEmoji(r rune) bool {
	switch {
	case r < 0x2000:
		return false
	case 0x1F000 <= r && r <= 0x1FAFF, // pictographs, emoticons, flags, skin tones
		0x2600 <= r && r <= 0x27BF,   // misc symbols, dingbats (☀ ✅ ❤)
		0xFE00 <= r && r <= 0xFE0F,   // variation selectors
		0xE0020 <= r && r <= 0xE007F, // tag characters
		r == 0x200D, r == 0x20E3,     // zero-width joiner, keycap
		r == 0x2B50, r == 0x2B55, r == 0x2B1B, r == 0x2B1C, // ⭐ ⭕ ⬛ ⬜
		r == 0x231A, r == 0x231B, 0x23E9 <= r && r <= 0x23F3, 0x23F8 <= r && r <= 0x23FA, // ⌚ ⏰ …
		r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
		return true
	}
	return false
}

// handleTemplates: GET /cgi-bin/template/get_all_private_template (docs/wechat.md §4).
func (s *Sandbox) handleTemplates(w http.ResponseWriter, r *http.Request) {
	if e := s.checkAccessToken(r); e != nil {
		writeJSON(w, e)
		return
	}
	type tmplJSON struct {
		TemplateID      string `json:"template_id"`
		Title           string `json:"title"`
		PrimaryIndustry string `json:"primary_industry"`
		DeputyIndustry  string `json:"deputy_industry"`
		Content         string `json:"content"`
		Example         string `json:"example"`
	}
	list := []tmplJSON{}
	for _, t := range s.templates.Load().list {
		list = append(list, tmplJSON{t.ID, t.Title, t.PrimaryIndustry, t.DeputyIndustry, t.Content, t.Example})
	}
	writeJSON(w, map[string]any{"template_list": list})
}
