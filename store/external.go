package store

import (
	"context"
	"sync"
	"time"
)

// External writes. One server serves a database (LockServe), but commands
// write to it while the server runs — wxpush send, wxpush user add, an
// admin with the sqlite3 shell — and the cache (cache.go) sees only this
// Store's own writes: a token revoked or a user unbound by another process
// would keep working here.
//
// SQLite's PRAGMA data_version tells a connection whether another
// connection committed since it last looked; its own commits do not count.
// Every write of this Store goes through its single write connection, so
// data_version read there changes exactly when someone else wrote. The
// Store reads it every externalPollEvery and then drops the whole cache:
// what another process wrote is seen within that time, whichever command
// wrote it and whatever it wrote, at no cost to any write. (The
// alternative, a counter row every writer bumps, needs every writer to
// remember to; the sqlite3 shell would not.)
//
// The poll takes the write connection between two transactions for one
// statement that reads the shared WAL index: no lock, no I/O. Extra drops
// only cost cache misses: a TRUNCATE checkpoint run from elsewhere (the
// sqlite3 shell) counts as a write; the store's own PASSIVE ones do not.

const externalPollEvery = 250 * time.Millisecond

// dataVersion is the write connection's PRAGMA data_version last seen.
type dataVersion struct {
	mu   sync.Mutex
	v    int64
	seen bool
}

// watchExternalWrites polls for external commits until the store closes.
func (s *Store) watchExternalWrites() {
	defer close(s.watchDone)
	t := time.NewTicker(externalPollEvery)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		// An error (the store closing) leaves the check to the next tick.
		s.pollExternalWrites(context.Background())
	}
}

// pollExternalWrites drops the cache when another connection committed
// since the last poll, and reports whether it did. The first poll (Open's)
// only notes the version.
func (s *Store) pollExternalWrites(ctx context.Context) (dropped bool, err error) {
	s.ext.mu.Lock()
	defer s.ext.mu.Unlock()
	var v int64
	if err := s.wdb.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return false, err
	}
	changed := s.ext.seen && v != s.ext.v
	s.ext.v, s.ext.seen = v, true
	if changed {
		// As a write-through: a fill whose read began before now may
		// hold what the other process replaced, and is not kept.
		s.cache.write(s.cache.reset)
	}
	return changed, nil
}

// reset forgets everything cached; call it under write.
func (c *cache) reset() {
	clear(c.users)
	clear(c.names)
	clear(c.tokens)
	clear(c.bindings)
	clear(c.recipients)
	clear(c.templates)
	clear(c.apiTokens)
}
