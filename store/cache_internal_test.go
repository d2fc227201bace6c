package store

import "testing"

// A fill whose read began before a write-through is dropped: it may hold
// what the write replaced.
func TestCache_FillOlderThanAWriteIsDropped(t *testing.T) {
	c := newCache()
	gen := c.generation()
	c.write(func() { c.setBinding(7, &Binding{UserID: 7, OpenID: "oNew"}) })
	c.fill(gen, func() { c.setBinding(7, nil) }) // read "unbound" before the binding
	if b, ok := c.bindings[7]; !ok || b == nil || b.OpenID != "oNew" {
		t.Fatalf("binding %+v, %v; want the written one", b, ok)
	}
	gen = c.generation()
	c.fill(gen, func() { c.setBinding(8, nil) })
	if b, ok := c.bindings[8]; !ok || b != nil {
		t.Fatalf("fill with no write in between not kept: %+v, %v", b, ok)
	}
}
