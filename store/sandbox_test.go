package store_test

import (
	"maps"
	"testing"
)

func TestSandboxState_SaveAndLoad(t *testing.T) {
	s, _ := openStore(t)
	st := s.SandboxState()
	got, err := st.Load(t.Context())
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("first Load = %v, %v; want an empty map", got, err)
	}
	for _, step := range []struct {
		name    string
		changes map[string][]byte
		want    map[string][]byte
	}{
		{"insert", map[string][]byte{"a": []byte("1"), "b": []byte("2")}, map[string][]byte{"a": []byte("1"), "b": []byte("2")}},
		{"replace, delete and insert", map[string][]byte{"a": []byte("3"), "b": nil, "c": []byte("4")}, map[string][]byte{"a": []byte("3"), "c": []byte("4")}},
		{"delete a missing key", map[string][]byte{"zz": nil}, map[string][]byte{"a": []byte("3"), "c": []byte("4")}},
		{"nothing", nil, map[string][]byte{"a": []byte("3"), "c": []byte("4")}},
	} {
		if err := st.Save(t.Context(), step.changes); err != nil {
			t.Fatalf("%s: Save: %v", step.name, err)
		}
		got, err := st.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(got, step.want, func(x, y []byte) bool { return string(x) == string(y) }) {
			t.Errorf("%s: Load = %q, want %q", step.name, got, step.want)
		}
	}
}
