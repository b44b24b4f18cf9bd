package projection

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// TestFencedBatchWritesNothing: a runner whose lock session was ended (as
// PostgreSQL ends the silent session of a hung process) cannot commit a
// batch, even one it had prepared; its successor's session can.
func TestFencedBatchWritesNothing(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	data, _ := json.Marshal(map[string]any{"riskId": "r-1", "reference": "R-0001", "title": "t", "description": "d",
		"category": "Operational", "source": "s", "owner": "o"})
	if _, err := store.Append(ctx, eventstore.StreamAppend{StreamID: "r-1", StreamType: "risk", Expected: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "RiskRegistered", Data: data}}}); err != nil {
		t.Fatal(err)
	}
	events, err := store.ReadAll(ctx, eventstore.Position{}, 10, eventstore.Filter{})
	if err != nil || len(events) != 1 {
		t.Fatalf("read the log: %v, %d events", err, len(events))
	}
	if err := ensureStatusRow(ctx, pool, NameRisks); err != nil {
		t.Fatal(err)
	}
	var gen int64
	if err := pool.QueryRow(ctx, `SELECT active_generation FROM rm_projections WHERE name = $1`, NameRisks).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	p, err := Lookup(NameRisks)
	if err != nil {
		t.Fatal(err)
	}
	key := lockKey("run", NameRisks)
	holder := func() *pglock.Session {
		s, err := pglock.Open(ctx, pool.Config().ConnConfig, "fence test")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if got, err := s.TryLock(ctx, key); err != nil || !got {
			t.Fatalf("TryLock = %v, %v", got, err)
		}
		return s
	}
	applierOf := func(s *pglock.Session) *applier {
		return &applier{p: p, pool: pool, gen: gen, checkpoint: checkpointName(NameRisks), fence: liveFence(NameRisks, gen, s.Fence(key))}
	}

	old := holder()
	stale := applierOf(old)
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1, 10000)", int64(old.PID())); err != nil {
		t.Fatal(err)
	}
	if err := stale.apply(ctx, events); !errors.Is(err, pglock.ErrLost) {
		t.Fatalf("batch of a runner whose session ended: %v, want ErrLost", err)
	}
	if cp, err := eventstore.LoadCheckpoint(ctx, pool, checkpointName(NameRisks)); err != nil || !cp.IsZero() {
		t.Errorf("checkpoint after the fenced batch: %q, %v; want the start", cp, err)
	}

	successor := applierOf(holder())
	if err := successor.apply(ctx, events); err != nil {
		t.Fatalf("batch of the new holder: %v", err)
	}
	if cp, err := eventstore.LoadCheckpoint(ctx, pool, checkpointName(NameRisks)); err != nil || cp != events[0].Position {
		t.Errorf("checkpoint after the new holder's batch: %q, %v; want %q", cp, err, events[0].Position)
	}
}
