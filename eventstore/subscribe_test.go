package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/riskreg/riskreg/eventstore"
)

// SubscribePaged hands every event once, in order, never more than a page
// at a time.
func TestSubscribePaged(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	events := make([]eventstore.Event, 25)
	for i := range events {
		events[i] = ev("Noted", `{}`)
	}
	appendOne(t, s, "paged", eventstore.NoStream, events...)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var got []int64
	errDone := errors.New("all seen")
	err := s.SubscribePaged(ctx, eventstore.Position{}, eventstore.Filter{}, 10, func(_ context.Context, batch []eventstore.RecordedEvent) error {
		if len(batch) > 10 {
			t.Errorf("a batch of %d events; the page is 10", len(batch))
		}
		for _, e := range batch {
			got = append(got, e.Version)
		}
		if len(got) >= len(events) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("subscription ended with %v", err)
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("versions %v, want 1..25 in order", got)
		}
	}
}
