package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// A failing write in a group commit loses nothing of the others and
// leaves nothing of its own.
func TestBatched_OneFailingWriteFailsAlone(t *testing.T) {
	s, _ := openInternal(t)
	ctx := context.Background()
	insert := func(tx *wtx, key string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES(?, x'00')`, key)
		return err
	}
	// Hold the writer so the next writes queue up and commit as one batch.
	release, started := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.batched(ctx, func(tx *wtx) error {
			close(started)
			<-release
			return insert(tx, "first")
		})
	}()
	<-started
	boom := errors.New("boom")
	writes := map[string]func(tx *wtx) error{
		"a": func(tx *wtx) error { return insert(tx, "a") },
		"b": func(tx *wtx) error {
			if err := insert(tx, "b"); err != nil {
				return err
			}
			return boom // after its own insert: that must be undone
		},
		"c":   func(tx *wtx) error { return insert(tx, "c") },
		"dup": func(tx *wtx) error { return insert(tx, "first") }, // a constraint error
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]error{}
	for name, fn := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.batched(ctx, fn)
			mu.Lock()
			got[name] = err
			mu.Unlock()
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the held batch
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if got["a"] != nil || got["c"] != nil {
		t.Errorf("good writes failed: a=%v c=%v", got["a"], got["c"])
	}
	if !errors.Is(got["b"], boom) {
		t.Errorf("b = %v; want its own error", got["b"])
	}
	if got["dup"] == nil {
		t.Error("duplicate key write succeeded")
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT key FROM settings WHERE key IN ('first', 'a', 'b', 'c') ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	if want := []string{"a", "c", "first"}; !slices.Equal(keys, want) {
		t.Errorf("stored keys %v; want %v (once each, nothing of b)", keys, want)
	}
}
