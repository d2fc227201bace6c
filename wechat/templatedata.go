package wechat

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is a template data value that WeChat would refuse with 47003
// (docs/wechat.md §4). Msg is in Chinese, for the administrator.
type FieldError struct {
	Key, Msg string
	// Rule is Msg without the key ("最多 20 个字符"), for a caller that
	// names the field its own way (by its label).
	Rule string

	empty bool
}

// Error mirrors WeChat's own wording ("data.thing1.value invalid",
// "data.date4.value is empty", docs/wechat-details.md §0) followed by the explanation.
func (e *FieldError) Error() string {
	what := "invalid"
	if e.empty {
		what = "is empty"
	}
	return fmt.Sprintf("wechat: data.%s.value %s: %s", e.Key, what, e.Msg)
}

// CheckTemplateData checks data against the value rules of category
// templates before sending (docs/wechat.md §4; the table is in docs/wechat-details.md §4.2). A key is
// typed by its prefix, the key without trailing digits (thing1 → thing).
// first and remark (dropped by WeChat since May 2023, docs/wechat.md §4) and keys of unknown
// prefix (old industry templates: keyword1, …) are free text and never
// flagged. A typed key that is missing or blank is flagged as empty. Keys in
// data but not in keys are ignored, as WeChat ignores them. The result has
// one error per bad key in the order of keys, or is nil.
func CheckTemplateData(keys []string, data map[string]string) []*FieldError {
	var errs []*FieldError
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		rule, ok := valueRules[keyPrefix(k)]
		if !ok {
			continue
		}
		v := data[k]
		if strings.TrimSpace(v) == "" {
			errs = append(errs, &FieldError{Key: k, Msg: k + " 不能为空", Rule: "不能为空", empty: true})
			continue
		}
		if !rule.ok(v) {
			errs = append(errs, &FieldError{Key: k, Msg: k + " " + rule.msg, Rule: rule.msg})
		}
	}
	return errs
}

type valueRule struct {
	ok  func(string) bool
	msg string // after the key: "thing1 最多 20 个字符"
}

// valueRules are the category-template limits, by key prefix (docs/wechat-details.md §4.2).
var valueRules = map[string]valueRule{
	"thing": {maxRunes(20), "最多 20 个字符"},
	"number": {func(v string) bool { return len(v) <= 32 && numberRe.MatchString(v) },
		"只能是数字（可带小数），最多 32 位"},
	"letter": {func(v string) bool { return utf8.RuneCountInString(v) <= 32 && all(v, isASCIILetter) },
		"只能是字母，最多 32 个"},
	"symbol": {func(v string) bool { return utf8.RuneCountInString(v) <= 5 && all(v, isSymbol) },
		"只能是符号，最多 5 个"},
	"character_string": {func(v string) bool { return utf8.RuneCountInString(v) <= 32 && all(v, isASCIIPrint) },
		"只能是数字、字母或符号（不能有中文），最多 32 个"},
	"time": {dateTime(false),
		"须为 24 小时制时间，可带日期，时间段用“~”连接，例如 15:01 或 2019年10月1日 15:01"},
	"date": {dateTime(true),
		"须为日期，可带时间，时间段用“~”连接，例如 2019年10月1日 或 2019-10-01 15:01"},
	"amount": {amountRe.MatchString,
		"须为金额：可带 1 个币种符号，最多 10 位整数，可带小数，可以“元”结尾，例如 ¥39.80 或 39.8元"},
	"phone_number": {func(v string) bool { return utf8.RuneCountInString(v) <= 17 && all(v, isPhoneRune) },
		"只能是数字或符号，最多 17 个，例如 +86-0766-66888866"},
	"car_number": {isCarNumber, "须为车牌号，最多 8 个字符，只有首尾可以是汉字，例如 粤A8Z888挂"},
	"name":       {isName, "最多 10 个汉字或 20 个字母（中英混合按汉字算）"},
	"phrase": {func(v string) bool { return utf8.RuneCountInString(v) <= 5 && all(v, isHan) },
		"只能是汉字，最多 5 个"},
	"const": {maxRunes(20), "最多 20 个字符（须为审核通过的枚举值）"},
}

var (
	numberRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	amountRe = regexp.MustCompile(`^[¥￥$€£]?[0-9]{1,10}(\.[0-9]+)?元?$`)

	datePart = `[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?`
	timePart = `[0-9]{1,2}[:：][0-9]{2}([:：][0-9]{2})?`
	timeRe   = regexp.MustCompile(`^(` + datePart + `\s*)?` + timePart + `$`)
	dateRe   = regexp.MustCompile(`^` + datePart + `(\s*` + timePart + `)?$`)
)

func maxRunes(n int) func(string) bool {
	return func(v string) bool { return utf8.RuneCountInString(v) <= n }
}

// dateTime checks a time (24 h, optionally with a date) or a date
// (optionally with a time); either may be a range "a~b" (docs/wechat-details.md §4.2).
func dateTime(date bool) func(string) bool {
	re := timeRe
	if date {
		re = dateRe
	}
	return func(v string) bool {
		parts := strings.Split(strings.ReplaceAll(v, "～", "~"), "~")
		if len(parts) > 2 {
			return false
		}
		for _, p := range parts {
			if !re.MatchString(strings.TrimSpace(p)) {
				return false
			}
		}
		return true
	}
}

func isCarNumber(v string) bool {
	rs := []rune(v)
	if len(rs) > 8 {
		return false
	}
	for i, r := range rs {
		if isASCIILetter(r) || (r >= '0' && r <= '9') {
			continue
		}
		if (i == 0 || i == len(rs)-1) && isHan(r) {
			continue
		}
		return false
	}
	return true
}

// isName: ≤ 10 characters if any is not ASCII (Chinese or mixed names),
// else ≤ 20 letters or symbols.
func isName(v string) bool {
	n := utf8.RuneCountInString(v)
	if all(v, func(r rune) bool { return r < utf8.RuneSelf }) {
		return n <= 20
	}
	return n <= 10
}

func all(s string, f func(rune) bool) bool {
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func isASCIILetter(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }

func isASCIIPrint(r rune) bool { return r >= ' ' && r <= '~' }

func isSymbol(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }

func isPhoneRune(r rune) bool {
	return r < utf8.RuneSelf && (unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ')
}
