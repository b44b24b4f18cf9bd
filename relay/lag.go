package relay

import (
	"context"
	"fmt"
	"time"
)

// lagSQL counts the events after a checkpoint and measures the age of the
// oldest of them, on the database's clock. A relay without a checkpoint lags
// by the whole log.
const lagSQL = `WITH c AS (
	SELECT COALESCE((SELECT tx_id FROM checkpoints WHERE name = $1), 0) AS tx_id,
	       COALESCE((SELECT seq FROM checkpoints WHERE name = $1), 0) AS seq)
SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(e.recorded_at))::float8, 0)
FROM events e, c WHERE (e.tx_id, e.seq) > (c.tx_id, c.seq)`

// Lag returns how many events of the log come after the relay's saved
// checkpoint, and how long ago the oldest of them was recorded.
func (r *Relay) Lag(ctx context.Context) (events int64, age time.Duration, err error) {
	var seconds float64
	if err := r.log.Pool().QueryRow(ctx, lagSQL, r.cfg.Name).Scan(&events, &seconds); err != nil {
		return 0, 0, fmt.Errorf("relay: measure lag: %w", err)
	}
	return events, time.Duration(max(seconds, 0) * float64(time.Second)), nil
}

// lagLoop measures the lag every LagInterval until ctx ends.
func (r *Relay) lagLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.LagInterval)
	defer t.Stop()
	for {
		r.measureLag(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Relay) measureLag(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(r.cfg.LagInterval, 5*time.Second))
	defer cancel()
	events, age, err := r.Lag(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Debug("relay: cannot measure lag", "err", err)
		}
		return
	}
	r.update(func(s *Status) {
		s.LagEvents, s.LagSeconds, s.LagMeasuredAt = events, age.Seconds(), time.Now()
	})
}
