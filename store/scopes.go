package store

import "slices"

// API token scopes: what a token may do.
const (
	ScopeSend   = "send"   // create messages
	ScopeRead   = "read"   // read messages, users, topics
	ScopeManage = "manage" // manage webhooks, topics, subscribers
)

// AllScopes is every scope, in the order pages list them; tokens made
// before scopes existed have them all.
var AllScopes = []string{ScopeSend, ScopeRead, ScopeManage}

// HasScope reports whether the token may act in scope.
func (t APIToken) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }
