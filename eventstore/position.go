package eventstore

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
)

// Position is a place in the global log, between two events. The zero value
// is the start of the log.
//
// The log is ordered by (transaction id, sequence number). PostgreSQL hands out
// sequence values in one order and commits transactions in another, so a
// reader that paged by the sequence alone could pass over an event whose
// transaction took its number early and committed late, and never see it.
// Instead every event records the 64-bit id of the transaction that wrote it,
// and readers only return events of transactions older than the oldest one
// still running in the reader's snapshot (see horizonSQL). Those
// transactions have all ended, so nothing can later appear before a position a
// reader has passed, and every read returns the same order. The price is that
// an event becomes readable in the global log only once every transaction
// that started before it has ended; Subscribe hides that wait.
type Position struct {
	tx  int64
	seq int64
}

// positionWidth is the length of a position's string form: two 16-digit hex
// numbers, so that string order is log order.
const positionWidth = 32

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1, 0 or +1 as p is before, at or after q in the log.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.tx, q.tx); c != 0 {
		return c
	}
	return cmp.Compare(p.seq, q.seq)
}

// String returns the opaque cursor form of p; the start of the log is "".
func (p Position) String() string {
	if p.IsZero() {
		return ""
	}
	return fmt.Sprintf("%016x%016x", uint64(p.tx), uint64(p.seq))
}

// ParsePosition parses the form String returns. The empty string is the start
// of the log.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	if len(s) != positionWidth {
		return Position{}, fmt.Errorf("%w: malformed position %q", ErrInvalidInput, s)
	}
	tx, err1 := strconv.ParseUint(s[:16], 16, 64)
	seq, err2 := strconv.ParseUint(s[16:], 16, 64)
	if err1 != nil || err2 != nil || tx > math.MaxInt64 || seq > math.MaxInt64 {
		return Position{}, fmt.Errorf("%w: malformed position %q", ErrInvalidInput, s)
	}
	return Position{tx: int64(tx), seq: int64(seq)}, nil
}

// horizonPosition is the position just before the first event of transaction
// xmin: every event of an older transaction lies at or before it.
func horizonPosition(xmin int64) Position {
	return Position{tx: xmin - 1, seq: math.MaxInt64}
}
