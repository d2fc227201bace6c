package views

import (
	"regexp"
	"strings"
)

// PreviewLine is one "label：value" line of a template message card.
type PreviewLine struct {
	Key   string
	Label string
	Value string
}

var placeholder = regexp.MustCompile(`\{\s?\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\s?\}`)

// TemplateLines lays a template's content out the way WeChat shows the
// card: each placeholder becomes a line labelled by the text before it on
// its line ("商品名称：{{thing1.DATA}}" → 商品名称). first and remark are
// dropped, as WeChat has done since May 2023 (docs/wechat.md §4).
func TemplateLines(content string, data map[string]string) []PreviewLine {
	var out []PreviewLine
	seen := map[string]bool{}
	for _, line := range strings.Split(content, "\n") {
		locs := placeholder.FindAllStringSubmatchIndex(line, -1)
		prev := 0
		for _, l := range locs {
			key := line[l[2]:l[3]]
			label := strings.TrimSpace(line[prev:l[0]])
			label = strings.TrimRight(label, "：: ")
			prev = l[1]
			if key == "first" || key == "remark" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, PreviewLine{Key: key, Label: label, Value: data[key]})
		}
	}
	return out
}

func joinKeys(keys []string) string { return strings.Join(keys, ", ") }
