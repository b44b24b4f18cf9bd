package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newStore returns a store on a fresh database.
func newStore(t *testing.T, cfg eventstore.Config) (*eventstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	s, err := eventstore.New(pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, pool
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ev(typ string, data string) eventstore.Event {
	return eventstore.Event{Type: typ, Data: json.RawMessage(data), Metadata: eventstore.Metadata{Actor: "alice"}}
}

func appendOne(t *testing.T, s *eventstore.Store, stream string, expected eventstore.ExpectedVersion, events ...eventstore.Event) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t), eventstore.StreamAppend{StreamID: stream, StreamType: "thing", Expected: expected, Events: events})
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

func countEvents(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxT(t), "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAppendAndReadStream(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	occurred := time.Date(2022, 6, 30, 10, 0, 0, 123456789, time.UTC)
	e1 := ev("ThingCreated", `{"name": "first",  "n": 1}`)
	e1.OccurredAt = occurred
	e1.Metadata = eventstore.Metadata{Actor: "alice", CorrelationID: "corr-1", RequestID: "req-1", Extra: json.RawMessage(`{"ip": "127.0.0.1"}`)}
	res := appendOne(t, s, "s-1", eventstore.NoStream, e1, ev("ThingRenamed", `{"name":"second"}`), ev("ThingRenamed", `{"name":"third"}`))

	if got := res.StreamVersion("s-1"); got != 3 {
		t.Errorf("StreamVersion = %d, want 3", got)
	}
	got, err := s.ReadStream(ctx, "s-1", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, e := range got {
		if e.Version != int64(i+1) || e.StreamID != "s-1" || e.StreamType != "thing" || e.SchemaVersion != 1 {
			t.Errorf("event %d = version %d stream %q type %q schema %d", i, e.Version, e.StreamID, e.StreamType, e.SchemaVersion)
		}
		if e.ID != res.Events[i].ID || e.Position != res.Events[i].Position || string(e.Hash) != string(res.Events[i].Hash) {
			t.Errorf("event %d read back differs from the append result", i)
		}
		if i > 0 && string(e.PrevHash) != string(got[i-1].Hash) {
			t.Errorf("event %d is not chained to event %d", i, i-1)
		}
		if i > 0 && e.Position.Compare(got[i-1].Position) <= 0 {
			t.Errorf("event %d position %s is not after %s", i, e.Position, got[i-1].Position)
		}
	}
	first := got[0]
	if string(first.Data) != `{"n": 1, "name": "first"}` {
		t.Errorf("data = %s, want the canonical jsonb form", first.Data)
	}
	if !first.OccurredAt.Equal(occurred.Truncate(time.Microsecond)) {
		t.Errorf("occurredAt = %v, want %v", first.OccurredAt, occurred.Truncate(time.Microsecond))
	}
	if first.Metadata.Actor != "alice" || first.Metadata.CorrelationID != "corr-1" || first.Metadata.RequestID != "req-1" || string(first.Metadata.Extra) != `{"ip": "127.0.0.1"}` {
		t.Errorf("metadata = %+v", first.Metadata)
	}
	if first.RecordedAt.IsZero() || time.Since(first.RecordedAt) > time.Minute {
		t.Errorf("recordedAt = %v, want about now", first.RecordedAt)
	}

	part, err := s.ReadStream(ctx, "s-1", eventstore.ReadStreamOptions{FromVersion: 2, ToVersion: 2})
	if err != nil || len(part) != 1 || part[0].Version != 2 {
		t.Errorf("ReadStream(2..2) = %d events, %v; want version 2 only", len(part), err)
	}
	v, err := s.StreamVersion(ctx, "s-1")
	if err != nil || v != 3 {
		t.Errorf("StreamVersion = %d, %v; want 3", v, err)
	}
	none, err := s.ReadStream(ctx, "no-such-stream", eventstore.ReadStreamOptions{})
	if err != nil || len(none) != 0 {
		t.Errorf("ReadStream(missing) = %d events, %v; want none", len(none), err)
	}
}

func TestReadStreamRecordedUntil(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	appendOne(t, s, "s", eventstore.NoStream, ev("A", `{}`))
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	appendOne(t, s, "s", eventstore.Exact(1), ev("B", `{}`))

	then, err := s.ReadStream(ctxT(t), "s", eventstore.ReadStreamOptions{RecordedUntil: cut})
	if err != nil {
		t.Fatal(err)
	}
	if len(then) != 1 || then[0].Type != "A" {
		t.Errorf("stream as of the cut = %d events, want only A", len(then))
	}
}

func TestExpectedVersion(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	appendOne(t, s, "existing", eventstore.NoStream, ev("A", `{}`), ev("B", `{}`))

	tests := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedVersion
		wantErr  bool
		current  int64
	}{
		{"no stream on a new stream", "new-1", eventstore.NoStream, false, 0},
		{"no stream on an existing stream", "existing", eventstore.NoStream, true, 2},
		{"stream exists on a new stream", "new-2", eventstore.StreamExists, true, 0},
		{"stream exists on an existing stream", "existing", eventstore.StreamExists, false, 0},
		{"exact match", "existing", eventstore.Exact(3), false, 0},
		{"exact behind", "existing", eventstore.Exact(2), true, 4},
		{"exact ahead", "existing", eventstore.Exact(9), true, 4},
		{"exact 0 on a new stream", "new-3", eventstore.Exact(0), false, 0},
		{"any on an existing stream", "existing", eventstore.Any, false, 0},
		{"any on a new stream", "new-4", eventstore.Any, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countEvents(t, pool)
			_, err := s.Append(ctxT(t), eventstore.StreamAppend{StreamID: tt.stream, StreamType: "thing", Expected: tt.expected, Events: []eventstore.Event{ev("C", `{}`)}})
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				return
			}
			var ce *eventstore.ConcurrencyError
			if !errors.Is(err, eventstore.ErrConcurrency) || !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a ConcurrencyError", err)
			}
			if ce.StreamID != tt.stream || ce.Current != tt.current {
				t.Errorf("ConcurrencyError = %+v, want stream %s current %d", ce, tt.stream, tt.current)
			}
			if after := countEvents(t, pool); after != before {
				t.Errorf("a failed append wrote %d events", after-before)
			}
		})
	}
}

func TestConcurrentAppendsToOneStreamOneWins(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	appendOne(t, s, "contested", eventstore.NoStream, ev("A", `{}`))
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Append(ctxT(t), eventstore.StreamAppend{StreamID: "contested", StreamType: "thing", Expected: eventstore.Exact(1),
				Events: []eventstore.Event{ev("B", fmt.Sprintf(`{"writer": %d}`, i))}})
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, eventstore.ErrConcurrency):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d appends won, want exactly 1", wins)
	}
	events, err := s.ReadStream(ctxT(t), "contested", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Version != 1 || events[1].Version != 2 {
		t.Errorf("stream has %d events, want versions 1 and 2", len(events))
	}
}

func TestMultiStreamAppendIsAllOrNothing(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	appendOne(t, s, "a", eventstore.NoStream, ev("A", `{}`))
	appendOne(t, s, "b", eventstore.NoStream, ev("A", `{}`))
	before := countEvents(t, pool)

	_, err := s.Append(ctxT(t),
		eventstore.StreamAppend{StreamID: "a", StreamType: "thing", Expected: eventstore.Exact(1), Events: []eventstore.Event{ev("B", `{}`)}},
		eventstore.StreamAppend{StreamID: "new", StreamType: "thing", Expected: eventstore.NoStream, Events: []eventstore.Event{ev("B", `{}`)}},
		eventstore.StreamAppend{StreamID: "b", StreamType: "thing", Expected: eventstore.Exact(7), Events: []eventstore.Event{ev("B", `{}`)}},
	)
	var ce *eventstore.ConcurrencyError
	if !errors.As(err, &ce) || ce.StreamID != "b" {
		t.Fatalf("err = %v, want a ConcurrencyError on stream b", err)
	}
	if after := countEvents(t, pool); after != before {
		t.Errorf("the failed append wrote %d events", after-before)
	}
	for _, id := range []string{"a", "new"} {
		if v, _ := s.StreamVersion(ctxT(t), id); v != map[string]int64{"a": 1, "new": 0}[id] {
			t.Errorf("stream %s at version %d after the rolled back append", id, v)
		}
	}

	res, err := s.Append(ctxT(t),
		eventstore.StreamAppend{StreamID: "a", StreamType: "thing", Expected: eventstore.Exact(1), Events: []eventstore.Event{ev("B", `{}`)}},
		eventstore.StreamAppend{StreamID: "b", StreamType: "thing", Expected: eventstore.Exact(1), Events: []eventstore.Event{ev("B", `{}`), ev("C", `{}`)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 3 || res.StreamVersion("a") != 2 || res.StreamVersion("b") != 3 {
		t.Errorf("result = %d events, a at %d, b at %d; want 3, 2, 3", len(res.Events), res.StreamVersion("a"), res.StreamVersion("b"))
	}
	tx := res.Events[0].Position
	for _, e := range res.Events[1:] {
		if e.Position.Compare(tx) <= 0 {
			t.Errorf("positions within one append are not increasing")
		}
	}
}

func TestIdempotentRetry(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	id1, id2 := uuid.New(), uuid.New()
	e1, e2 := ev("A", `{"a": 1}`), ev("B", `{"b": 2}`)
	e1.ID, e2.ID = id1, id2
	first := appendOne(t, s, "s", eventstore.NoStream, e1, e2)
	before := countEvents(t, pool)

	// The retry is sent with its original expected version, which no longer
	// holds; it still answers with the original result.
	again := appendOne(t, s, "s", eventstore.NoStream, e1, e2)
	if countEvents(t, pool) != before {
		t.Fatal("the retry appended events")
	}
	for i := range first.Events {
		a, b := first.Events[i], again.Events[i]
		if a.ID != b.ID || a.Position != b.Position || a.Version != b.Version || string(a.Hash) != string(b.Hash) {
			t.Errorf("retry event %d = %+v, want the original %+v", i, b, a)
		}
	}

	changed := e1
	changed.Data = json.RawMessage(`{"a": 99}`)
	_, err := s.Append(ctx, eventstore.StreamAppend{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{changed}})
	var de *eventstore.DuplicateEventError
	if !errors.Is(err, eventstore.ErrDuplicateEvent) || !errors.As(err, &de) || de.EventID != id1.String() {
		t.Errorf("same id, other data: err = %v, want DuplicateEventError for %s", err, id1)
	}

	elsewhere := e1
	_, err = s.Append(ctx, eventstore.StreamAppend{StreamID: "other", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{elsewhere}})
	if !errors.Is(err, eventstore.ErrDuplicateEvent) {
		t.Errorf("same id, other stream: err = %v, want ErrDuplicateEvent", err)
	}

	partial := ev("C", `{}`)
	_, err = s.Append(ctx, eventstore.StreamAppend{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{e1, partial}})
	if !errors.Is(err, eventstore.ErrDuplicateEvent) {
		t.Errorf("partly stored retry: err = %v, want ErrDuplicateEvent", err)
	}
	if countEvents(t, pool) != before {
		t.Error("a refused retry appended events")
	}
}

func TestConcurrentRetriesOfOneAppendRecordOnce(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	e := ev("A", `{"x": 1}`)
	e.ID = uuid.New()
	const n = 16
	var wg sync.WaitGroup
	results := make([]eventstore.AppendResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Append(ctxT(t), eventstore.StreamAppend{StreamID: "s", StreamType: "thing", Expected: eventstore.NoStream, Events: []eventstore.Event{e}})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("retry %d: %v", i, errs[i])
		}
		if results[i].Events[0].Position != results[0].Events[0].Position {
			t.Errorf("retry %d answered another position", i)
		}
	}
	if got := countEvents(t, pool); got != 1 {
		t.Errorf("%d events stored, want 1", got)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{MaxEventSize: 1024})
	big := `{"x": "` + string(make([]byte, 0)) + fmt.Sprintf("%01100d", 0) + `"}`
	good := func() []eventstore.Event { return []eventstore.Event{ev("A", `{}`)} }
	tests := []struct {
		name    string
		streams []eventstore.StreamAppend
	}{
		{"no streams", nil},
		{"empty stream id", []eventstore.StreamAppend{{StreamType: "thing", Expected: eventstore.Any, Events: good()}}},
		{"empty stream type", []eventstore.StreamAppend{{StreamID: "s", Expected: eventstore.Any, Events: good()}}},
		{"no events", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any}}},
		{"zero expected version", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Events: good()}}},
		{"negative exact version", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Exact(-1), Events: good()}}},
		{"empty event type", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{{Data: json.RawMessage(`{}`)}}}}},
		{"invalid JSON", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{ev("A", `{"a":`)}}}},
		{"no data", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{{Type: "A"}}}}},
		{"NUL in JSON", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{ev("A", `{"a":"\u0000"}`)}}}},
		{"metadata not an object", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{{Type: "A", Data: json.RawMessage(`{}`), Metadata: eventstore.Metadata{Extra: json.RawMessage(`[1]`)}}}}}},
		{"over the size limit", []eventstore.StreamAppend{{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: []eventstore.Event{ev("A", big)}}}},
		{"one stream twice", []eventstore.StreamAppend{
			{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: good()},
			{StreamID: "s", StreamType: "thing", Expected: eventstore.Any, Events: good()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(ctxT(t), tt.streams...)
			if !errors.Is(err, eventstore.ErrInvalidInput) {
				t.Errorf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
	appendOne(t, s, "typed", eventstore.NoStream, ev("A", `{}`))
	_, err := s.Append(ctxT(t), eventstore.StreamAppend{StreamID: "typed", StreamType: "other", Expected: eventstore.Any, Events: good()})
	if !errors.Is(err, eventstore.ErrInvalidInput) {
		t.Errorf("append with another stream type: err = %v, want ErrInvalidInput", err)
	}
	if got := countEvents(t, pool); got != 1 {
		t.Errorf("%d events stored, want only the one good event", got)
	}
}

func TestEventLogIsAppendOnly(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	appendOne(t, s, "s", eventstore.NoStream, ev("A", `{"v": 1}`))
	for _, sql := range []string{
		`UPDATE events SET data = '{"v": 2}'`,
		`DELETE FROM events`,
		`TRUNCATE events`,
	} {
		_, err := pool.Exec(ctxT(t), sql)
		if err == nil {
			t.Errorf("%s: no error, want the append-only trigger to refuse", sql)
		}
	}
	events, err := s.ReadStream(ctxT(t), "s", eventstore.ReadStreamOptions{})
	if err != nil || len(events) != 1 || string(events[0].Data) != `{"v": 1}` {
		t.Errorf("after refused changes: %d events, %v", len(events), err)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	s, pool := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	appendOne(t, s, "kept", eventstore.NoStream, ev("A", `{"v": 1}`), ev("B", `{"v": 2}`))
	appendOne(t, s, "edited", eventstore.NoStream, ev("A", `{"v": 1}`), ev("B", `{"v": 2}`), ev("C", `{"v": 3}`))

	rep, err := s.Verify(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.CheckedEvents != 5 {
		t.Fatalf("intact log: %+v, want OK with 5 events checked", rep)
	}

	tamper := func(sql string) {
		t.Helper()
		for _, stmt := range []string{"ALTER TABLE events DISABLE TRIGGER USER", sql, "ALTER TABLE events ENABLE TRIGGER USER"} {
			if _, err := pool.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	tamper(`UPDATE events SET data = '{"v": 20}' WHERE stream_id = 'edited' AND version = 2`)
	rep, err = s.Verify(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) != 1 || rep.Problems[0].StreamID != "edited" || rep.Problems[0].Version != 2 {
		t.Errorf("after editing edited/2: %+v, want one problem at edited version 2", rep.Problems)
	}
	if only, _ := s.Verify(ctx, "kept"); !only.OK() || only.CheckedEvents != 2 {
		t.Errorf("Verify(kept) = %+v, want intact with 2 events", only)
	}

	tamper(`DELETE FROM events WHERE stream_id = 'kept' AND version = 2`)
	rep, _ = s.Verify(ctx, "kept")
	if rep.OK() || rep.Problems[0].StreamID != "kept" {
		t.Errorf("after deleting kept/2: %+v, want a problem on kept", rep.Problems)
	}
	tamper(`DELETE FROM events WHERE stream_id = 'kept' AND version = 1`)
	rep, _ = s.Verify(ctx, "kept")
	if rep.OK() {
		t.Errorf("after deleting all of kept: verify says intact")
	}
}

func TestUpcasting(t *testing.T) {
	up := eventstore.NewUpcasters()
	up.Register("Renamed", 1, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"title": v1.Name})
	})
	up.Register("Renamed", 2, func(data json.RawMessage) (json.RawMessage, error) {
		var v2 map[string]string
		if err := json.Unmarshal(data, &v2); err != nil {
			return nil, err
		}
		v2["language"] = "en"
		return json.Marshal(v2)
	})
	s, _ := newStore(t, eventstore.Config{Upcasters: up})
	old := ev("Renamed", `{"name": "Old title"}`)
	old.SchemaVersion = 1
	current := ev("Renamed", `{"title": "New", "language": "fr"}`)
	current.SchemaVersion = 3
	appendOne(t, s, "s", eventstore.NoStream, old, current)

	events, err := s.ReadStream(ctxT(t), "s", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if events[0].SchemaVersion != 3 || string(events[0].Data) != `{"language":"en","title":"Old title"}` {
		t.Errorf("upcast v1 = v%d %s", events[0].SchemaVersion, events[0].Data)
	}
	if events[1].SchemaVersion != 3 || string(events[1].Data) != `{"title": "New", "language": "fr"}` {
		t.Errorf("current event = v%d %s, want it unchanged", events[1].SchemaVersion, events[1].Data)
	}
	all, err := s.ReadAll(ctxT(t), eventstore.Position{}, 10, eventstore.Filter{})
	if err != nil || len(all) != 2 || all[0].SchemaVersion != 3 {
		t.Errorf("ReadAll does not upcast: %v", err)
	}
	if rep, err := s.Verify(ctxT(t), ""); err != nil || !rep.OK() {
		t.Errorf("upcasting on read broke the stored chain: %+v %v", rep, err)
	}
}

func TestPositionRoundTrip(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	res := appendOne(t, s, "s", eventstore.NoStream, ev("A", `{}`), ev("B", `{}`))
	for _, e := range res.Events {
		p, err := eventstore.ParsePosition(e.Position.String())
		if err != nil || p != e.Position {
			t.Errorf("ParsePosition(%q) = %v, %v", e.Position, p, err)
		}
	}
	if a, b := res.Events[0].Position.String(), res.Events[1].Position.String(); a >= b {
		t.Errorf("position strings %q, %q do not sort in log order", a, b)
	}
	if p, err := eventstore.ParsePosition(""); err != nil || !p.IsZero() {
		t.Errorf(`ParsePosition("") = %v, %v; want the start`, p, err)
	}
	for _, bad := range []string{"x", "zz00000000000000000000000000000z", "000000000000000100000000000000011"} {
		if _, err := eventstore.ParsePosition(bad); !errors.Is(err, eventstore.ErrInvalidInput) {
			t.Errorf("ParsePosition(%q) err = %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestLastAppended(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	if !s.LastAppended().IsZero() {
		t.Fatalf("a new store's LastAppended = %v, want the start", s.LastAppended())
	}
	res := appendOne(t, s, "s", eventstore.NoStream, ev("A", `{}`), ev("B", `{}`))
	if got := s.LastAppended(); got != res.Last().Position {
		t.Errorf("LastAppended = %v, want %v", got, res.Last().Position)
	}
	// A retry records nothing and moves nothing.
	if _, err := s.Append(ctxT(t), eventstore.StreamAppend{StreamID: "s", StreamType: "thing", Expected: eventstore.Exact(7), Events: []eventstore.Event{ev("C", `{}`)}}); err == nil {
		t.Fatal("append at a wrong version succeeded")
	}
	if got := s.LastAppended(); got != res.Last().Position {
		t.Errorf("LastAppended after a refused append = %v, want %v", got, res.Last().Position)
	}
}

func TestStreamInfoAndEventsByID(t *testing.T) {
	s, _ := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	res := appendOne(t, s, "s", eventstore.NoStream, ev("A", `{}`), ev("B", `{}`))
	typ, v, found, err := s.StreamInfo(ctx, "s")
	if err != nil || !found || typ != "thing" || v != 2 {
		t.Errorf("StreamInfo(s) = %q, %d, %v, %v; want thing, 2, true", typ, v, found, err)
	}
	if _, _, found, err := s.StreamInfo(ctx, "missing"); err != nil || found {
		t.Errorf("StreamInfo(missing) found = %v, %v", found, err)
	}
	got, err := s.EventsByID(ctx, []uuid.UUID{res.Events[1].ID, uuid.New(), res.Events[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != res.Events[0].ID || got[1].ID != res.Events[1].ID {
		t.Errorf("EventsByID = %d events, want the two stored ones in log order", len(got))
	}
}

// TestTwoStoresOnOneStream checks that a store whose cached stream head is
// stale (another process appended) still appends at the right version and
// reports conflicts with the real current version.
func TestTwoStoresOnOneStream(t *testing.T) {
	a, pool := newStore(t, eventstore.Config{})
	b, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	appendOne(t, a, "shared", eventstore.NoStream, ev("A1", `{}`))
	appendOne(t, b, "shared", eventstore.Exact(1), ev("B2", `{}`))
	appendOne(t, a, "shared", eventstore.Exact(2), ev("A3", `{}`)) // a's cache still says 1
	appendOne(t, b, "shared", eventstore.Any, ev("B4", `{}`))      // b's cache says 2

	_, err = a.Append(ctxT(t), eventstore.StreamAppend{StreamID: "shared", StreamType: "thing", Expected: eventstore.Exact(3), Events: []eventstore.Event{ev("X", `{}`)}})
	var ce *eventstore.ConcurrencyError
	if !errors.As(err, &ce) || ce.Current != 4 {
		t.Fatalf("stale expected version: %v, want a ConcurrencyError with current 4", err)
	}
	events, err := a.ReadStream(ctxT(t), "shared", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	if fmt.Sprint(types) != "[A1 B2 A3 B4]" {
		t.Errorf("stream = %v, want [A1 B2 A3 B4]", types)
	}
	if rep, err := a.Verify(ctxT(t), "shared"); err != nil || !rep.OK() {
		t.Errorf("chain across two writers: %+v, %v", rep, err)
	}
}
