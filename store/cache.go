package store

import "sync"

// cache keeps what every authenticated request and every binding-page poll
// reads — users by id, binding tokens, bindings — in memory, written through
// by this Store's own methods. wxpush is one process per database (SQLite,
// one outbox), so the store sees every write; a miss falls back to SQL,
// which covers rows written by other commands (wxpush user add).
type cache struct {
	mu       sync.RWMutex
	users    map[int64]User
	tokens   map[int64]BindToken
	bindings map[int64]*Binding // nil value: known to be unbound
}

// cacheLimit bounds each map; past it the map starts over (a cold cache is
// only slower).
const cacheLimit = 100_000

func newCache() *cache {
	return &cache{users: map[int64]User{}, tokens: map[int64]BindToken{}, bindings: map[int64]*Binding{}}
}

func (c *cache) user(id int64) (User, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	u, ok := c.users[id]
	return u, ok
}

func (c *cache) putUser(u User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.users) >= cacheLimit {
		clear(c.users)
	}
	c.users[u.ID] = u
}

func (c *cache) bindStatus(userID, tokenID int64) (BindToken, *Binding, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tokens[tokenID]
	if !ok || t.UserID != userID {
		return BindToken{}, nil, false
	}
	b, ok := c.bindings[userID]
	if !ok {
		return BindToken{}, nil, false
	}
	if b != nil {
		cp := *b
		b = &cp
	}
	return t, b, true
}

func (c *cache) putToken(t BindToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) >= cacheLimit {
		clear(c.tokens)
	}
	c.tokens[t.ID] = t
}

// putBinding records a user's binding; b nil means unbound.
func (c *cache) putBinding(userID int64, b *Binding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bindings) >= cacheLimit {
		clear(c.bindings)
	}
	if b != nil {
		cp := *b
		b = &cp
	}
	c.bindings[userID] = b
}

// forgetBinding drops what is known of a user's binding (the next read
// goes to SQL).
func (c *cache) forgetBinding(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.bindings, userID)
}
