package eventstore

import (
	"context"
	"fmt"
)

// CountBetween returns the number of events of the global log after
// position after and up to position upTo, both as ReadAll orders them.
func (s *Store) CountBetween(ctx context.Context, after, upTo Position) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE (tx_id, seq) > ($1, $2) AND (tx_id, seq) <= ($3, $4)`,
		after.tx, after.seq, upTo.tx, upTo.seq).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("eventstore: count events: %w", err)
	}
	return n, nil
}
