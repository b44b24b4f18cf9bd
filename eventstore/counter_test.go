package eventstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/eventstore"
)

// numberedAppend appends one event numbered from counter "c" to stream;
// fail makes the numbering fail once a real number is given.
func numberedAppend(t *testing.T, s *eventstore.Store, stream string, expected eventstore.ExpectedVersion, id uuid.UUID, fail bool) (eventstore.AppendResult, error) {
	t.Helper()
	return s.Append(ctxT(t), eventstore.StreamAppend{StreamID: stream, StreamType: "thing", Expected: expected,
		Numbered: &eventstore.Numbered{Counter: "c", Events: func(n int64) ([]eventstore.Event, error) {
			if fail && n > 0 {
				return nil, errors.New("numbering refused")
			}
			e := ev("ThingNumbered", fmt.Sprintf(`{"n": %d}`, n))
			e.ID = id
			return []eventstore.Event{e}, nil
		}}})
}

func numberOf(t *testing.T, res eventstore.AppendResult) int {
	t.Helper()
	var d struct{ N int }
	if err := json.Unmarshal(res.Events[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.N
}

// A numbered append takes the counter's next value in its transaction;
// appends that fail, in the numbering or on their expected version, take
// none, and a retry of a recorded append gets its first number back.
func TestNumberedAppendsAreGapFree(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	first := uuid.New()
	res, err := numberedAppend(t, s, "n-1", eventstore.NoStream, first, false)
	if err != nil || numberOf(t, res) != 1 {
		t.Fatalf("first numbered append: %v, %+v", err, res)
	}
	if _, err := numberedAppend(t, s, "n-2", eventstore.NoStream, uuid.New(), true); err == nil {
		t.Fatal("a failing numbering was recorded")
	}
	if _, err := numberedAppend(t, s, "n-1", eventstore.Exact(5), uuid.New(), false); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("stale expected version: %v, want ErrConcurrency", err)
	}
	again, err := numberedAppend(t, s, "n-1", eventstore.NoStream, first, false)
	if err != nil || numberOf(t, again) != 1 || again.Events[0].Position != res.Events[0].Position {
		t.Fatalf("retry of the first append: %v, %+v; want its first result", err, again)
	}
	res, err = numberedAppend(t, s, "n-3", eventstore.NoStream, uuid.New(), false)
	if err != nil || numberOf(t, res) != 2 {
		t.Fatalf("next numbered append: %v, number %d; want 2", err, numberOf(t, res))
	}
}
