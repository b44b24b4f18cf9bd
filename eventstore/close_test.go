package eventstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func oneRisk(id string) eventstore.StreamAppend {
	return eventstore.StreamAppend{StreamID: id, StreamType: "risk", Expected: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "RiskRegistered", Data: []byte(`{"title":"t"}`)}}}
}

// An append to a closed store returns ErrClosed at once: its request may
// still fit in the writers' queue, but no writer is left to take it.
func TestAppendAfterCloseReturnsErrClosed(t *testing.T) {
	pool := pgtest.NewPool(t)
	for range 50 {
		s, err := eventstore.New(pool, eventstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = s.Append(ctx, oneRisk(uuid.NewString()))
		cancel()
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("append after Close: %v, want ErrClosed", err)
		}
	}
}

// Close while many appends are under way: each append either succeeds and
// is in the log, or returns ErrClosed and is not; none waits for its context.
func TestCloseDuringAppendsAnswersEveryCaller(t *testing.T) {
	pool := pgtest.NewPool(t)
	s, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	var stored, refused []string
	var wg sync.WaitGroup
	started := make(chan struct{}, 64)
	for range 64 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := uuid.NewString()
				_, err := s.Append(ctx, oneRisk(id))
				if i == 0 {
					started <- struct{}{}
				}
				mu.Lock()
				switch {
				case err == nil:
					stored = append(stored, id)
				case errors.Is(err, eventstore.ErrClosed):
					refused = append(refused, id)
				default:
					mu.Unlock()
					t.Errorf("append: %v, want success or ErrClosed", err)
					return
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	for range 64 {
		<-started
	}
	s.Close()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("an append waited for its context after Close")
	}

	check, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	for _, id := range stored {
		if v, err := check.StreamVersion(ctx, id); err != nil || v != 1 {
			t.Fatalf("stream %s answered as stored has version %d (%v), want 1", id, v, err)
		}
	}
	for _, id := range refused {
		if v, err := check.StreamVersion(ctx, id); err != nil || v != 0 {
			t.Fatalf("stream %s answered ErrClosed has version %d (%v), want 0", id, v, err)
		}
	}
	if len(refused) != 64 {
		t.Fatalf("%d callers were refused, want each of the 64 once", len(refused))
	}
	t.Logf("%d appends stored before Close, 64 refused", len(stored))
}
