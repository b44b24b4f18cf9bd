package eventstore

import (
	"runtime"
	"sync/atomic"
	"testing"
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
