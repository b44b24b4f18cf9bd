package console

import "time"

// SetSettleTime changes how far in the past an as-of time must be for its
// snapshot to be cached.
func SetSettleTime(c *Console, d time.Duration) { c.settle.Store(int64(d)) }
