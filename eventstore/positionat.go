package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PositionAt returns the position of the last event of the global log
// recorded at or before t (to the microsecond, as recorded_at holds), among
// the events ReadAll shows: the position a fold of the log up to t ends at.
// It is the zero Position when no event was recorded by then. It reads the
// log backwards from its end, so it costs what the events recorded after t
// cost, nothing when t is after the last event.
func (s *Store) PositionAt(ctx context.Context, t time.Time) (Position, error) {
	until := t.Truncate(time.Microsecond).Add(time.Microsecond)
	var p Position
	err := s.pool.QueryRow(ctx, `WITH h AS (SELECT `+horizonSQL+` AS xmin)
		SELECT e.tx_id, e.seq FROM events e, h WHERE e.tx_id < h.xmin AND e.recorded_at < $1
		ORDER BY e.tx_id DESC, e.seq DESC LIMIT 1`, until).Scan(&p.tx, &p.seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: position at %s: %w", t.UTC().Format(time.RFC3339Nano), err)
	}
	return p, nil
}
