package outbox

import (
	"context"
	"time"
)

// PauseUntil pauses a kind as a 45009 would (tests).
func (o *Outbox) PauseUntil(ctx context.Context, kind string, until time.Time) {
	o.pause(ctx, kind, until, "test")
}
