package store

import (
	"context"
)

// SandboxState is the sandbox_state table: the records in which the
// built-in WeChat emulator (sandbox mode) keeps its state across restarts.
// It implements the emulator's Persistence; the store knows nothing of the
// records' content.
type SandboxState struct{ s *Store }

// SandboxState returns the table's accessor.
func (s *Store) SandboxState() SandboxState { return SandboxState{s} }

// Load returns every record by key; an empty map when there is none.
func (t SandboxState) Load(ctx context.Context) (map[string][]byte, error) {
	rows, err := t.s.rdb.QueryContext(ctx, `SELECT key, value FROM sandbox_state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		recs[k] = v
	}
	return recs, rows.Err()
}

// Save applies changes in one transaction: a nil value deletes its key,
// any other replaces the record.
func (t SandboxState) Save(ctx context.Context, changes map[string][]byte) error {
	if len(changes) == 0 {
		return nil
	}
	return t.s.tx(ctx, func(tx *wtx) error {
		for k, v := range changes {
			var err error
			if v == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM sandbox_state WHERE key = ?`, k)
			} else {
				_, err = tx.ExecContext(ctx,
					`INSERT INTO sandbox_state(key, value) VALUES(?, ?)
					 ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
