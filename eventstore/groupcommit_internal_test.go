package eventstore

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func batchOf(streams ...string) []*appendRequest {
	r := &appendRequest{}
	for _, id := range streams {
		r.streams = append(r.streams, StreamAppend{StreamID: id})
	}
	return []*appendRequest{r}
}

// Two writers never commit batches that share a stream: the second waits
// until the first releases its streams; batches of other streams go on.
func TestBusyStreamsKeepsBatchesApart(t *testing.T) {
	busy := newBusyStreams()
	first := batchOf("a", "b")
	busy.acquire(first)

	other := batchOf("c")
	busy.acquire(other) // shares nothing: does not wait
	busy.release(other)

	var acquired atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		second := batchOf("b", "d")
		busy.acquire(second)
		acquired.Store(true)
		busy.release(second)
	}()
	for range 100 {
		runtime.Gosched()
	}
	if acquired.Load() {
		t.Fatal("a batch sharing stream b was let through while another held it")
	}
	busy.release(first)
	<-done
	if len(busy.ids) != 0 {
		t.Errorf("streams still marked busy after every release: %v", busy.ids)
	}
}

// gatherStore is a store with only what gather uses.
func gatherStore(linger time.Duration) *Store {
	s := &Store{requests: make(chan *appendRequest, queuedRequests), busy: newBusyStreams()}
	s.cfg.MaxBatchEvents, s.cfg.Linger = 1000, linger
	return s
}

func oneEvent() *appendRequest { return &appendRequest{events: 1} }

// With no other batch in flight a writer takes what is queued and goes.
func TestGatherWithNothingInFlightTakesWhatIsQueued(t *testing.T) {
	s := gatherStore(time.Hour)
	for range 3 {
		s.requests <- oneEvent()
	}
	if got := len(s.gather([]*appendRequest{oneEvent()})); got != 4 {
		t.Fatalf("gathered %d requests, want the first and the 3 queued", got)
	}
}

// While a batch of 5 is in flight a writer waits for 5 events of its own,
// however slowly they come: with nothing queued when it starts, a writer
// that did not wait would go with its first request alone.
func TestGatherWaitsToMatchTheBatchInFlight(t *testing.T) {
	s := gatherStore(time.Hour)
	inFlight := []*appendRequest{{events: 5}}
	s.busy.acquire(inFlight)
	gathered := make(chan int)
	go func() { gathered <- len(s.gather([]*appendRequest{oneEvent()})) }()
	for range 4 {
		s.requests <- oneEvent()
		runtime.Gosched()
	}
	if got := <-gathered; got != 5 {
		t.Fatalf("gathered %d requests while a batch of 5 was in flight, want 5", got)
	}
	s.busy.release(inFlight)
	if got := s.busy.eventsInFlight(); got != 0 {
		t.Fatalf("%d events in flight after the release, want 0", got)
	}
}

// The wait is bounded by Linger, and a negative Linger turns it off.
func TestGatherWaitsNoLongerThanLinger(t *testing.T) {
	for _, linger := range []time.Duration{time.Millisecond, -1} {
		s := gatherStore(linger)
		inFlight := []*appendRequest{{events: 50}}
		s.busy.acquire(inFlight)
		s.requests <- oneEvent()
		if got := len(s.gather([]*appendRequest{oneEvent()})); got != 2 {
			t.Fatalf("linger %v: gathered %d requests, want the 2 there were", linger, got)
		}
		s.busy.release(inFlight)
	}
}
