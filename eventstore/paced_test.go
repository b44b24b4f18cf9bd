package eventstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riskreg/riskreg/eventstore"
)

// A paced handler returns no sooner than its interval after it started,
// passes its handler's error on at once, and stops waiting when ctx ends.
func TestPaced(t *testing.T) {
	calls := 0
	boom := errors.New("boom")
	handle := func(_ context.Context, events []eventstore.RecordedEvent) error {
		calls++
		if len(events) == 0 {
			return boom
		}
		return nil
	}
	paced := eventstore.Paced(50*time.Millisecond, handle)
	start := time.Now()
	if err := paced(context.Background(), make([]eventstore.RecordedEvent, 1)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("a paced call returned after %s, before its interval", took)
	}
	if err := eventstore.Paced(time.Hour, handle)(context.Background(), nil); !errors.Is(err, boom) {
		t.Errorf("paced call = %v, want the handler's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eventstore.Paced(time.Hour, handle)(ctx, make([]eventstore.RecordedEvent, 1)); err != nil {
		t.Errorf("paced call with an ended context = %v", err)
	}
	if calls != 3 {
		t.Errorf("handler called %d times, want 3", calls)
	}
}
