package projection

import "github.com/riskreg/riskreg/internal/pglock"

// lockKey is the key of the advisory lock of kind ("run" or "rebuild") on a
// projection.
func lockKey(kind, projection string) int64 {
	return pglock.Key("riskreg/projection/" + kind + "/" + projection)
}
