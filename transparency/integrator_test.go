package transparency

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/riskreg/riskreg/eventstore"
)

// TestIntegratorUnderConcurrentAppends runs two integrators (as two
// processes would) while writers append, stops the one that holds the lock
// half way, kills the other's lock session, and checks that the stored
// tree, tile by tile, is the one recomputed from the log from scratch.
func TestIntegratorUnderConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	a := newStore(t)
	b := storeOn(t, a.Pool().Config().ConnString())
	_, stopA := runIntegrator(t, a, IntegratorConfig{BatchSize: 7})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				appendN(t, ctx, a, fmt.Sprintf("risk-%d-%d", w, i), 40, 1+w*3)
			}
		})
	}
	wg.Go(func() {
		_, _ = runIntegrator(t, b, IntegratorConfig{BatchSize: 50})
		appendN(t, ctx, b, "risk-b", 50, 9)
		stopA() // the first integrator goes away; the second takes over
		appendN(t, ctx, b, "risk-b", 50, 9)
		// The server kills the second one's lock session and connections,
		// as when its process dies: it takes the lock again and goes on.
		if _, err := a.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'riskreg transparency integrator' AND datname = current_database()`); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	size := waitIntegrated(t, ctx, a.Pool())
	if size != 4*5*40+100 {
		t.Fatalf("the tree has %d leaves, the log %d", size, 4*5*40+100)
	}
	checkTree(t, ctx, a, size)
}

// checkTree checks that the stored tree of size leaves is the tree
// recomputed from the log: same root, same tiles.
func checkTree(t *testing.T, ctx context.Context, store *eventstore.Store, size uint64) {
	t.Helper()
	leaves := allLeaves(t, ctx, store)
	if uint64(len(leaves)) != size {
		t.Fatalf("the log has %d events, the tree %d leaves", len(leaves), size)
	}
	var storedSize int64
	var storedRoot []byte
	if err := store.Pool().QueryRow(ctx, "SELECT size, root FROM log_tree").Scan(&storedSize, &storedRoot); err != nil {
		t.Fatal(err)
	}
	if want := mth(leaves); uint64(storedSize) != size || !bytes.Equal(storedRoot, want) {
		t.Fatalf("stored tree %d %x, recomputed %d %x", storedSize, storedRoot, size, want)
	}
	fresh := &builder{rng: rangeFactory.NewEmptyRange(0), edge: map[int]*tileBuf{}, dirty: map[tileKey]*tileBuf{}}
	for _, l := range leaves {
		_ = fresh.rng.Append(l, fresh.visit)
	}
	rows, err := store.Pool().Query(ctx, "SELECT level, n, hashes FROM log_tiles")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := 0
	for rows.Next() {
		var level int16
		var n int64
		var hashes []byte
		if err := rows.Scan(&level, &n, &hashes); err != nil {
			t.Fatal(err)
		}
		stored++
		want, ok := fresh.dirty[tileKey{int(level), n}]
		if !ok || !bytes.Equal(want.hashes, hashes) {
			t.Errorf("stored tile %d/%d (%d hashes) differs from the recomputed one", level, n, len(hashes)/32)
		}
	}
	if stored != len(fresh.dirty) {
		t.Errorf("%d tiles stored, %d recomputed", stored, len(fresh.dirty))
	}
}
