package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/eventstore"
)

// readWholeLog pages through the global log with the given page size.
func readWholeLog(t *testing.T, s *eventstore.Store, page int, f eventstore.Filter) []eventstore.RecordedEvent {
	t.Helper()
	var all []eventstore.RecordedEvent
	var after eventstore.Position
	for {
		events, err := s.ReadAll(ctxT(t), after, page, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, events...)
		if len(events) < page {
			return all
		}
		after = events[len(events)-1].Position
	}
}

func TestConcurrentAppendsAreAllRecordedInOneOrder(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	const writers, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := s.Append(ctxT(t), eventstore.StreamAppend{
					StreamID: fmt.Sprintf("w%d-%d", w, i), StreamType: "thing", Expected: eventstore.NoStream,
					Events: []eventstore.Event{ev("A", fmt.Sprintf(`{"w": %d, "i": %d}`, w, i))}})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	first := readWholeLog(t, s, 37, eventstore.Filter{})
	if len(first) != writers*each {
		t.Fatalf("log has %d events, want %d", len(first), writers*each)
	}
	seen := make(map[string]bool)
	for i, e := range first {
		if seen[e.StreamID] {
			t.Errorf("stream %s read twice", e.StreamID)
		}
		seen[e.StreamID] = true
		if i > 0 && e.Position.Compare(first[i-1].Position) <= 0 {
			t.Errorf("event %d is not after event %d", i, i-1)
		}
	}
	second := readWholeLog(t, s, 500, eventstore.Filter{})
	if !slices.EqualFunc(first, second, func(a, b eventstore.RecordedEvent) bool { return a.ID == b.ID }) {
		t.Error("two reads of the log returned different orders")
	}
	if rep, err := s.Verify(ctxT(t), ""); err != nil || !rep.OK() || rep.CheckedEvents != writers*each {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func TestReadAllFilters(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	withMeta := func(typ, corr, cause, decision string) eventstore.Event {
		e := ev(typ, `{}`)
		e.Metadata.CorrelationID, e.Metadata.CausationID, e.Metadata.DecisionID = corr, cause, decision
		return e
	}
	appendOne(t, s, "r1", eventstore.NoStream, withMeta("RiskRegistered", "c1", "", ""), withMeta("RiskAssessed", "c2", "", ""))
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	_, err := s.Append(ctx,
		eventstore.StreamAppend{StreamID: "d1", StreamType: "decision", Expected: eventstore.NoStream, Events: []eventstore.Event{withMeta("DecisionRecorded", "c3", "", "d1")}},
		eventstore.StreamAppend{StreamID: "r1", StreamType: "thing", Expected: eventstore.Exact(2), Events: []eventstore.Event{withMeta("RiskFlagged", "c3", "cause-1", "d1")}},
	)
	if err != nil {
		t.Fatal(err)
	}

	types := func(events []eventstore.RecordedEvent) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.Type)
		}
		return out
	}
	tests := []struct {
		name string
		f    eventstore.Filter
		want []string
	}{
		{"everything", eventstore.Filter{}, []string{"RiskRegistered", "RiskAssessed", "DecisionRecorded", "RiskFlagged"}},
		{"stream", eventstore.Filter{StreamID: "r1"}, []string{"RiskRegistered", "RiskAssessed", "RiskFlagged"}},
		{"stream type", eventstore.Filter{StreamType: "decision"}, []string{"DecisionRecorded"}},
		{"types", eventstore.Filter{Types: []string{"RiskAssessed", "RiskFlagged"}}, []string{"RiskAssessed", "RiskFlagged"}},
		{"correlation", eventstore.Filter{CorrelationID: "c3"}, []string{"DecisionRecorded", "RiskFlagged"}},
		{"causation", eventstore.Filter{CausationID: "cause-1"}, []string{"RiskFlagged"}},
		{"decision", eventstore.Filter{DecisionID: "d1"}, []string{"DecisionRecorded", "RiskFlagged"}},
		{"since", eventstore.Filter{Since: mid}, []string{"DecisionRecorded", "RiskFlagged"}},
		{"until", eventstore.Filter{Until: mid}, []string{"RiskRegistered", "RiskAssessed"}},
		{"combined", eventstore.Filter{StreamID: "r1", DecisionID: "d1"}, []string{"RiskFlagged"}},
		{"nothing", eventstore.Filter{StreamID: "r1", Types: []string{"DecisionRecorded"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := types(readWholeLog(t, s, 1, tt.f))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := s.ReadAll(ctx, eventstore.Position{}, 0, eventstore.Filter{}); !errors.Is(err, eventstore.ErrInvalidInput) {
		t.Errorf("limit 0: err = %v, want ErrInvalidInput", err)
	}
}

// slowTransaction inserts an event the way any writer would, taking its
// sequence number now, and leaves the transaction open.
func slowTransaction(t *testing.T, s *eventstore.Store) pgx.Tx {
	t.Helper()
	tx, err := s.Pool().Begin(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	_, err = tx.Exec(ctxT(t), `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, occurred_at, prev_hash, hash)
		VALUES (gen_random_uuid(), 'slow', 'thing', 1, 'Slow', 1, '{}', now(), '\x00', '\x00')`)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestLateCommitIsNotSkipped is the classic event store bug: a transaction
// that took its position first and commits last must still be read, and
// before the later ones.
func TestLateCommitIsNotSkipped(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	slow := slowTransaction(t, s)
	appendOne(t, s, "fast", eventstore.NoStream, ev("Fast", `{}`))

	// While the slow transaction is open, the fast event must not be handed
	// out: a reader would move past the slow one's place and never see it.
	early, err := s.ReadAll(ctx, eventstore.Position{}, 10, eventstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(early) != 0 {
		t.Fatalf("read %d events while an earlier transaction is open, want 0", len(early))
	}

	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := readWholeLog(t, s, 10, eventstore.Filter{})
	if len(got) != 2 || got[0].Type != "Slow" || got[1].Type != "Fast" {
		t.Fatalf("log after the late commit = %v, want Slow then Fast", got)
	}
}

func TestWaitVisible(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	slow := slowTransaction(t, s)
	res := appendOne(t, s, "fast", eventstore.NoStream, ev("Fast", `{}`))
	short, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
	defer cancel()
	if err := s.WaitVisible(short, res.Last().Position); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitVisible while an older transaction is open = %v, want the deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitVisible(ctxT(t), res.Last().Position) }()
	time.Sleep(20 * time.Millisecond)
	if err := slow.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitVisible after the older transaction ended: %v", err)
	}
	if got, _ := s.ReadAll(ctxT(t), eventstore.Position{}, 10, eventstore.Filter{StreamID: "fast"}); len(got) != 1 {
		t.Errorf("ReadAll after WaitVisible returned %d events, want 1", len(got))
	}
}

func TestSubscribeSeesLateCommitInOrder(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(ctxT(t))
	received := make(chan eventstore.RecordedEvent, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, eventstore.Position{}, eventstore.Filter{}, func(_ context.Context, events []eventstore.RecordedEvent) error {
			for _, e := range events {
				received <- e
			}
			return nil
		})
	}()

	slow := slowTransaction(t, s)
	appendOne(t, s, "fast", eventstore.NoStream, ev("Fast", `{}`))
	select {
	case e := <-received:
		t.Fatalf("received %s while an earlier transaction is open", e.Type)
	case <-time.After(200 * time.Millisecond):
	}
	if err := slow.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The slow transaction commits without telling anyone; the next append
	// wakes the subscriber, which must deliver Slow, Fast, Next in order.
	appendOne(t, s, "next", eventstore.NoStream, ev("Next", `{}`))
	var got []string
	for len(got) < 3 {
		select {
		case e := <-received:
			got = append(got, e.Type)
		case <-time.After(10 * time.Second):
			t.Fatalf("received only %v", got)
		}
	}
	if !slices.Equal(got, []string{"Slow", "Fast", "Next"}) {
		t.Errorf("received %v, want [Slow Fast Next]", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Subscribe returned %v after its context ended, want nil", err)
	}
}

func TestSubscribeCatchesUpThenStaysLive(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{PollInterval: time.Hour})
	for i := range 700 { // more than one subscription batch
		appendOne(t, s, fmt.Sprintf("old-%d", i), eventstore.NoStream, ev("Old", `{}`))
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var mu sync.Mutex
	var got []eventstore.RecordedEvent
	enough := make(chan struct{})
	go s.Subscribe(ctx, eventstore.Position{}, eventstore.Filter{Types: []string{"Old", "New"}}, func(_ context.Context, events []eventstore.RecordedEvent) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, events...)
		if len(got) == 710 {
			close(enough)
		}
		return nil
	})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			appendOne(t, s, fmt.Sprintf("new-%d", i), eventstore.NoStream, ev("Ignored", `{}`), ev("New", `{}`))
		})
	}
	wg.Wait()
	select {
	case <-enough:
	case <-time.After(20 * time.Second):
		mu.Lock()
		t.Fatalf("received %d events, want 710", len(got))
	}
	mu.Lock()
	defer mu.Unlock()
	ids := make(map[string]bool)
	for i, e := range got {
		if ids[e.ID.String()] {
			t.Errorf("event %s delivered twice", e.ID)
		}
		ids[e.ID.String()] = true
		if i > 0 && e.Position.Compare(got[i-1].Position) <= 0 {
			t.Errorf("event %d delivered out of order", i)
		}
		if e.Type == "Ignored" {
			t.Errorf("filtered event delivered")
		}
	}
	full := readWholeLog(t, s, 1000, eventstore.Filter{Types: []string{"Old", "New"}})
	if !slices.EqualFunc(full, got, func(a, b eventstore.RecordedEvent) bool { return a.ID == b.ID }) {
		t.Error("subscription order differs from ReadAll order")
	}
}

func TestSubscribeIsWokenByAnotherProcess(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{PollInterval: time.Hour})
	other, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	received := make(chan string, 1)
	go s.Subscribe(ctx, eventstore.Position{}, eventstore.Filter{}, func(_ context.Context, events []eventstore.RecordedEvent) error {
		received <- events[0].StreamID
		return nil
	})
	time.Sleep(200 * time.Millisecond) // let LISTEN start; a missed wake-up would hang the test, not pass it
	if _, err := other.Append(ctx, eventstore.StreamAppend{StreamID: "elsewhere", StreamType: "thing", Expected: eventstore.NoStream, Events: []eventstore.Event{ev("A", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-received:
		if id != "elsewhere" {
			t.Errorf("received %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a subscriber that polls hourly was not woken by another store's append")
	}
}

func TestSubscribeReturnsHandlerError(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	appendOne(t, s, "s", eventstore.NoStream, ev("A", `{}`))
	boom := errors.New("boom")
	err := s.Subscribe(ctxT(t), eventstore.Position{}, eventstore.Filter{}, func(context.Context, []eventstore.RecordedEvent) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Subscribe = %v, want the handler's error", err)
	}
}

func TestCheckpointCommitsWithTheConsumersWork(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	res := appendOne(t, s, "s", eventstore.NoStream, ev("A", `{}`), ev("B", `{}`))

	if p, err := eventstore.LoadCheckpoint(ctx, pool, "reader"); err != nil || !p.IsZero() {
		t.Fatalf("new checkpoint = %v, %v; want the start", p, err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := eventstore.SaveCheckpoint(ctx, tx, "reader", res.Events[0].Position); err != nil {
			return err
		}
		return errors.New("the consumer's work failed")
	})
	if err == nil {
		t.Fatal("BeginFunc did not fail")
	}
	if p, _ := eventstore.LoadCheckpoint(ctx, pool, "reader"); !p.IsZero() {
		t.Errorf("checkpoint of a rolled back transaction = %v, want the start", p)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return eventstore.SaveCheckpoint(ctx, tx, "reader", res.Events[1].Position)
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := eventstore.LoadCheckpoint(ctx, pool, "reader"); p != res.Events[1].Position {
		t.Errorf("checkpoint = %v, want %v", p, res.Events[1].Position)
	}
	rest, _ := s.ReadAll(ctx, res.Events[1].Position, 10, eventstore.Filter{})
	if len(rest) != 0 {
		t.Errorf("%d events after the checkpoint, want 0", len(rest))
	}
}
