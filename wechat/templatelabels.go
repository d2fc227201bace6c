package wechat

import "strings"

// Labels maps each data key of the template to the words before its
// placeholder on its line, the way WeChat labels the card's rows:
// "商品名称：{{thing1.DATA}}" labels thing1 商品名称. A key with nothing
// before it (first, remark, old free-text templates) has no label.
func (t Template) Labels() map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(t.Content, "\n") {
		prev := 0
		for _, l := range placeholder.FindAllStringSubmatchIndex(line, -1) {
			key := line[l[2]:l[3]]
			label := strings.TrimRight(strings.TrimSpace(line[prev:l[0]]), "：: ")
			prev = l[1]
			if _, seen := out[key]; !seen && label != "" {
				out[key] = label
			}
		}
	}
	return out
}
