package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wxpush/wxpush/store"
)

// ScopeLabels says what each API token scope allows, for people.
var ScopeLabels = map[string]string{
	store.ScopeSend:   "发送消息",
	store.ScopeRead:   "读取消息、用户和主题",
	store.ScopeManage: "管理 Webhook、主题和订阅者",
}

// CheckScopes validates the scopes of a new token and returns them
// without repeats, in store.AllScopes order.
func CheckScopes(scopes []string) ([]string, error) {
	var out []string
	for _, sc := range store.AllScopes {
		if slices.Contains(scopes, sc) {
			out = append(out, sc)
		}
	}
	for _, sc := range scopes {
		if !slices.Contains(store.AllScopes, sc) {
			msg := fmt.Sprintf("没有权限范围 %q；可选：%s。", sc, strings.Join(store.AllScopes, "、"))
			return nil, &Error{Code: EInvalid, Message: msg, Fields: map[string]string{"scopes": msg}}
		}
	}
	if len(out) == 0 {
		msg := "至少选择一项权限。"
		return nil, &Error{Code: EInvalid, Message: msg, Fields: map[string]string{"scopes": msg}}
	}
	return out, nil
}

// RequireScope refuses a token without scope: EForbidden with reason
// insufficient_scope, naming what it needs and what it has.
func RequireScope(t store.APIToken, scope string) error {
	if t.HasScope(scope) {
		return nil
	}
	return &Error{Code: EForbidden, Reason: "insufficient_scope",
		Message: fmt.Sprintf("this token lacks the %q scope (it has: %s); create a token with it on /admin/tokens", scope, strings.Join(t.Scopes, ", "))}
}
