package store

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooMany is matched (errors.Is) by a *LimitError.
var ErrTooMany = errors.New("too many")

// Limit allows at most Max creations per Per; Max 0 means no limit.
type Limit struct {
	Max int
	Per time.Duration
}

// LimitError refuses a creation over a Limit.
type LimitError struct {
	RetryAt time.Time // when the next creation will be allowed
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("too many: next allowed at %s", e.RetryAt.Format(time.RFC3339))
}

func (e *LimitError) Is(target error) bool { return target == ErrTooMany }
