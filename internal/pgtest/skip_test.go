package pgtest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// skipRecorder is a testing.TB whose Skip records the reason.
type skipRecorder struct {
	testing.TB
	skipped string
}

func (r *skipRecorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

// Without a server, database tests skip and say why instead of passing.
func TestNoServerSkipsWithReason(t *testing.T) {
	const reason = "pgtest: no PostgreSQL to test against: because"
	state.mu.Lock()
	saved := struct {
		prepared bool
		skip     string
		err      error
		admin    *pgxpool.Pool
	}{state.prepared, state.skip, state.err, state.admin}
	state.prepared, state.skip, state.err, state.admin = true, reason, nil, nil
	state.mu.Unlock()
	t.Cleanup(func() {
		state.mu.Lock()
		defer state.mu.Unlock()
		state.prepared, state.skip, state.err = saved.prepared, saved.skip, saved.err
		state.admin = saved.admin
	})

	r := &skipRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewDatabase(r)
		t.Error("NewDatabase returned without a server")
	}()
	<-done
	if r.skipped != reason {
		t.Errorf("skipped with %q, want %q", r.skipped, reason)
	}
}
