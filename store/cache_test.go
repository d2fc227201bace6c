package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxpush/wxpush/store"
)

// What the API path reads from memory follows every write made through the
// store.
func TestCache_FollowsWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)

	t.Run("templates", func(t *testing.T) {
		if err := s.ReplaceTemplates(ctx, []store.Template{{ID: "T1", Title: "旧", Content: "{{a.DATA}}"}}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Template(ctx, "T1"); err != nil || got.Title != "旧" {
			t.Fatalf("Template = %+v, %v", got, err)
		}
		if err := s.ReplaceTemplates(ctx, []store.Template{{ID: "T2", Title: "新", Content: "{{b.DATA}}"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Template(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted template still found: %v", err)
		}
		if got, err := s.Template(ctx, "T2"); err != nil || got.Title != "新" {
			t.Errorf("Template(T2) = %+v, %v", got, err)
		}
	})

	t.Run("recipients", func(t *testing.T) {
		bob, err := s.CreateUser(ctx, "bob", "pw-bob-1234", false, false)
		if err != nil {
			t.Fatal(err)
		}
		carol, err := s.CreateUser(ctx, "carol", "pw-carol-1234", false, false)
		if err != nil {
			t.Fatal(err)
		}
		bind := func(id int64, openid string) {
			t.Helper()
			tok, _, err := s.NewBindToken(ctx, id, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CompleteBinding(ctx, tok, store.Binding{OpenID: openid}); err != nil {
				t.Fatal(err)
			}
		}
		names := func() []string {
			t.Helper()
			rs, err := s.Recipients(ctx, false, []int64{carol.ID, bob.ID, bob.ID})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.Name+":"+r.OpenID)
			}
			return out
		}
		bind(carol.ID, "oCarol")
		for range 2 { // from SQL, then from memory
			if got := names(); len(got) != 1 || got[0] != "carol:oCarol" {
				t.Fatalf("recipients %v; want carol only", got)
			}
		}
		bind(bob.ID, "oBob")
		if got := names(); len(got) != 2 || got[0] != "bob:oBob" || got[1] != "carol:oCarol" {
			t.Fatalf("after binding bob: %v; want bob and carol, by name", got)
		}
		if err := s.Unbind(ctx, carol.ID); err != nil {
			t.Fatal(err)
		}
		if got := names(); len(got) != 1 || got[0] != "bob:oBob" {
			t.Fatalf("after unbinding carol: %v; want bob only", got)
		}
	})

	t.Run("recipients in the order SQL gives", func(t *testing.T) {
		// users.name is COLLATE NOCASE: "Zed" sorts after "amy", not before.
		var ids []int64
		for _, name := range []string{"Zed", "amy", "Bea"} {
			u, err := s.CreateUser(ctx, name, "pw-"+name+"-1234", false, false)
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := s.NewBindToken(ctx, u.ID, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CompleteBinding(ctx, tok, store.Binding{OpenID: "o" + name}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		for _, from := range []string{"SQL", "memory"} {
			rs, err := s.Recipients(ctx, false, ids)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.Name)
			}
			if strings.Join(got, ",") != "amy,Bea,Zed" {
				t.Errorf("from %s: %v; want amy, Bea, Zed", from, got)
			}
		}
	})

	t.Run("users by name, as NOCASE compares", func(t *testing.T) {
		e1, err := s.CreateUser(ctx, "Émile", "pw-emile-1234", false, false)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := s.CreateUser(ctx, "émile", "pw-emile-1234", false, false)
		if err != nil {
			t.Fatalf("NOCASE folds ASCII only, so émile is another name: %v", err)
		}
		for range 2 { // from SQL, then from memory
			for _, c := range []struct {
				name string
				id   int64
			}{{"Émile", e1.ID}, {"émile", e2.ID}, {"ÉMILE", e1.ID}} {
				if got, err := s.UserByName(ctx, c.name); err != nil || got.ID != c.id {
					t.Errorf("UserByName(%q) = %d, %v; want %d", c.name, got.ID, err, c.id)
				}
			}
		}
	})

	t.Run("users by name", func(t *testing.T) {
		if _, err := s.UserByName(ctx, "dave"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		dave, err := s.CreateUser(ctx, "dave", "pw-dave-1234", false, false)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got, err := s.UserByName(ctx, "dave"); err != nil || got.ID != dave.ID {
				t.Fatalf("UserByName = %+v, %v", got, err)
			}
		}
		if got, err := s.UserByName(ctx, "DAVE"); err != nil || got.ID != dave.ID {
			t.Fatalf("UserByName(DAVE) = %+v, %v; names compare without ASCII case", got, err)
		}
	})
}
