package wechat

import "regexp"

// ridSuffix is the request id WeChat appends to an errmsg, e.g.
// "require subscribe rid: 655d9278-7c157f97-69055077": quote it when
// asking WeChat's support about a call.
var ridSuffix = regexp.MustCompile(`[\s,;]*\brid:\s*([0-9A-Za-z-]+)\s*$`)

// SplitRID separates WeChat's request id from the rest of an errmsg. An
// errmsg without one comes back whole, with rid "".
func SplitRID(errmsg string) (msg, rid string) {
	m := ridSuffix.FindStringSubmatchIndex(errmsg)
	if m == nil {
		return errmsg, ""
	}
	return errmsg[:m[0]], errmsg[m[2]:m[3]]
}
