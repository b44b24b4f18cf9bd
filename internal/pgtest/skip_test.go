package pgtest

import (
	"fmt"
	"runtime"
	"testing"
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
	old := skipReason
	t.Cleanup(func() { skipReason = old })
	skipReason = "pgtest: no PostgreSQL to test against: because"

	r := &skipRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewDatabase(r)
		t.Error("NewDatabase returned without a server")
	}()
	<-done
	if r.skipped != skipReason {
		t.Errorf("skipped with %q, want %q", r.skipped, skipReason)
	}
}
