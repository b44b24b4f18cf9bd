// Package sleep waits for a while unless a context ends first: the pause
// between retries, between polls and between a follower's batches.
package sleep

import (
	"context"
	"time"
)

// For waits d or until ctx ends, whichever comes first, and reports whether
// the whole wait passed. A zero or negative d returns at once, true unless
// ctx has ended.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
