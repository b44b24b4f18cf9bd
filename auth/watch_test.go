package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
)

// A Watcher ends every session of a revoked token, and only those, with one
// look-up per interval however many sessions it watches; a stopped session
// is not ended; the watcher's goroutine ends with its last session.
func TestWatcherEndsSessionsOfRevokedTokens(t *testing.T) {
	ctx := context.Background()
	store, queries := newStore(t, time.Now)
	var ids []string
	for _, subject := range []string{"kept", "revoked", "stopped"} {
		_, info, err := store.Create(ctx, subject, []domain.Role{domain.RoleIntegration}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	const interval = 20 * time.Millisecond
	w := auth.NewWatcher(auth.WatcherConfig{Check: store.ActiveTokens, Interval: interval})
	var mu sync.Mutex
	ended := map[string]int{}
	revokedDone := make(chan struct{}, 100)
	var stops []func()
	for i := range 300 {
		id := ids[i%3]
		stops = append(stops, w.Watch(id, func() {
			mu.Lock()
			ended[id]++
			mu.Unlock()
			revokedDone <- struct{}{}
		}))
	}
	for i := 2; i < len(stops); i += 3 {
		stops[i]() // the "stopped" token's sessions end on their own
	}
	if err := store.Revoke(ctx, ids[2]); err != nil { // nobody watches it any more
		t.Fatal(err)
	}
	before, start := queries.n.Load(), time.Now()
	if err := store.Revoke(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		select {
		case <-revokedDone:
		case <-time.After(10 * time.Second):
			t.Fatalf("sessions ended: %v; want the 100 of the revoked token", ended)
		}
	}
	elapsed := time.Since(start)
	if n, most := queries.n.Load()-before, int64(elapsed/interval)+2; n > most {
		t.Errorf("%d look-ups in %v for 300 sessions; want one per %v interval, at most %d", n, elapsed, interval, most)
	}
	mu.Lock()
	if len(ended) != 1 || ended[ids[1]] != 100 {
		t.Errorf("ended %v, want the 100 sessions of %s only", ended, ids[1])
	}
	mu.Unlock()
	if got := w.Watched(); got != 100 {
		t.Errorf("%d sessions watched, want the kept token's 100", got)
	}
	for i := 0; i < len(stops); i += 3 {
		stops[i]()
	}
	if got := w.Watched(); got != 0 {
		t.Errorf("%d sessions watched after every stop", got)
	}
}
