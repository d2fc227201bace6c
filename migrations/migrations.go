// Package migrations holds the goose SQL migrations, embedded so the binary
// carries its own schema.
package migrations

import "embed"

// FS holds every *.sql migration, applied in version order by goose.
//
//go:embed *.sql
var FS embed.FS
