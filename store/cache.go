package store

import (
	"strings"
	"sync"
)

// cache keeps in memory what every authenticated request, API call and
// binding-page poll reads — users, sessions, binding tokens, bindings,
// recipients, templates, API tokens — written through by this Store's own
// methods. One server serves a database (LockServe); what other processes
// write (wxpush send, wxpush user add) drops the whole cache within
// externalPollEvery (external.go), and a miss falls back to SQL.
//
// A fill (caching what SQL returned) races with write-throughs: a read that
// began before a write can finish after it. gen counts write-throughs, and
// a fill is kept only when none happened since its read began.
type cache struct {
	mu  sync.RWMutex
	gen uint64

	users      map[int64]User
	names      map[string]int64 // by nocase(name)
	tokens     map[int64]BindToken
	bindings   map[int64]*Binding  // nil value: known to be unbound
	recipients map[int64]Recipient // OpenID "": known to be unbound
	templates  map[string]Template
	apiTokens  map[string]APIToken // by secretHash of the token
	sessions   map[string]Session  // by secretHash of the cookie's token
}

// cacheLimit bounds each map; past it the map starts over (a cold cache is
// only slower).
const cacheLimit = 100_000

func newCache() *cache {
	return &cache{users: map[int64]User{}, names: map[string]int64{}, tokens: map[int64]BindToken{},
		bindings: map[int64]*Binding{}, recipients: map[int64]Recipient{}, templates: map[string]Template{},
		apiTokens: map[string]APIToken{}, sessions: map[string]Session{}}
}

// put stores v in m, starting m over when full.
func put[K comparable, V any](m map[K]V, k K, v V) {
	if len(m) >= cacheLimit {
		clear(m)
	}
	m[k] = v
}

// generation is taken before a SQL read whose result is then filled in.
func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// write runs a write-through.
func (c *cache) write(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	fn()
}

// fill runs fn to cache what a read that began at generation gen returned,
// unless a write-through came in between.
func (c *cache) fill(gen uint64, fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		fn()
	}
}

func (c *cache) user(id int64) (User, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	u, ok := c.users[id]
	return u, ok
}

func (c *cache) userByName(name string) (User, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.names[nocase(name)]
	if !ok {
		return User{}, false
	}
	u, ok := c.users[id]
	return u, ok
}

// putUser caches a user (locked helper). Users are never renamed, but
// admins change their rights, disable and delete them (accounts.go): those
// writes go through write, so a user read from SQL is cached through fill,
// which drops a read that raced them.
func (c *cache) putUser(u User) {
	put(c.users, u.ID, u)
	put(c.names, nocase(u.Name), u.ID)
}

// nocase folds a name as SQLite's NOCASE collation of users.name does:
// ASCII letters only (É and é are two names).
func nocase(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
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

// Locked helpers, for write and fill.

func (c *cache) setToken(t BindToken) { put(c.tokens, t.ID, t) }

// setBinding records a user's binding; b nil means unbound.
func (c *cache) setBinding(userID int64, b *Binding) {
	if b != nil {
		cp := *b
		b = &cp
	}
	put(c.bindings, userID, b)
	delete(c.recipients, userID)
}

// dropUser forgets a user and everything cached of theirs: sessions,
// binding, recipient entry and binding tokens (the account was deleted or
// disabled).
func (c *cache) dropUser(u User) {
	delete(c.users, u.ID)
	if id, ok := c.names[nocase(u.Name)]; ok && id == u.ID {
		delete(c.names, nocase(u.Name))
	}
	c.dropBinding(u.ID)
	c.dropSessions(func(se Session) bool { return se.UserID == u.ID })
	for id, t := range c.tokens {
		if t.UserID == u.ID {
			delete(c.tokens, id)
		}
	}
}

// dropBinding forgets what is known of a user's binding (the next read
// goes to SQL).
func (c *cache) dropBinding(userID int64) {
	delete(c.bindings, userID)
	delete(c.recipients, userID)
}

// recipientsOf returns the cached recipients among ids, or ok false when
// one of them is not cached.
func (c *cache) recipientsOf(ids []int64) (rs []Recipient, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		r, ok := c.recipients[id]
		if !ok {
			return nil, false
		}
		if r.OpenID != "" {
			rs = append(rs, r)
		}
	}
	return rs, true
}

func (c *cache) template(id string) (Template, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.templates[id]
	return t, ok
}

func (c *cache) apiToken(hash string) (APIToken, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.apiTokens[hash]
	return t, ok
}

func (c *cache) session(hash string) (Session, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	se, ok := c.sessions[hash]
	return se, ok
}

// dropSessions forgets the cached sessions that match (locked helper).
// Ending sessions is rare, so a scan beats keeping a second index.
func (c *cache) dropSessions(match func(Session) bool) {
	for h, se := range c.sessions {
		if match(se) {
			delete(c.sessions, h)
		}
	}
}
