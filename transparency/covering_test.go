package transparency

import (
	"context"
	"fmt"
	"testing"

	"github.com/riskreg/riskreg/eventstore"
)

// CheckpointCovering names, for the position of every event of a log of
// three tiles (the last partial) and of events not yet in the tree, the
// smallest checkpoint whose tree holds every event up to it.
func TestCheckpointCoveringEveryPosition(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	appendN(t, ctx, store, "risk-a", 600, 37)
	_, stop := runIntegrator(t, store, IntegratorConfig{BatchSize: 100})
	waitIntegrated(t, ctx, store.Pool())
	stop()
	appendN(t, ctx, store, "risk-a", 20, 20) // after the tree
	sizes := []int64{100, 256, 257, 600}
	for _, n := range sizes {
		if _, err := store.Pool().Exec(ctx, `INSERT INTO log_checkpoints (origin, size, root, note, verifier)
			VALUES ('test', $1, sha256(''::bytea), $2, 'test')`, n, fmt.Sprint("note ", n)); err != nil {
			t.Fatal(err)
		}
	}
	events, err := store.ReadAll(ctx, eventstore.Position{}, 1000, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	log := NewLog(store)
	for i, e := range events {
		c, err := log.CheckpointCovering(ctx, e.Position)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(-1)
		for _, n := range sizes {
			if n >= int64(i+1) {
				want = n
				break
			}
		}
		switch {
		case want < 0 && c != nil:
			t.Errorf("event %d: checkpoint of size %d covers it?", i, c.Size)
		case want >= 0 && (c == nil || int64(c.Size) != want):
			t.Errorf("event %d: got %v, want the checkpoint of size %d", i, c, want)
		}
	}
}
