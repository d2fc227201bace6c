package main

import (
	"os"
	"testing"
)

// skipUnderShort skips a slow test under -short, except when CI=true: CI
// runs the whole suite, and a test that cannot run there must fail, not
// skip.
func skipUnderShort(t *testing.T, what string) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip(what + "; skipped with -short")
	}
}
