package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/projection"
)

// heapBytes reads the bytes of heap objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// seedLog appends n events of a type no projection reads, on 100 streams,
// in appends of 1,000 events sent from 4 goroutines.
func seedLog(t testing.TB, store *eventstore.Store, n int) {
	t.Helper()
	const streams, perAppend, workers = 100, 1000, 4
	data := json.RawMessage(`{"title": "Supply chain disruption", "description": "Loss of a key supplier delays customs systems", "owner": "Director of Finance"}`)
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				first := int(next.Add(perAppend)) - perAppend
				if first >= n {
					return
				}
				count := min(perAppend, n-first)
				var batch []eventstore.StreamAppend
				per := count / streams
				for s := range streams {
					events := make([]eventstore.Event, per)
					for i := range events {
						events[i] = eventstore.Event{Type: "LoadNoted", Data: data, Metadata: eventstore.Metadata{Actor: "seed"}}
					}
					batch = append(batch, eventstore.StreamAppend{StreamID: fmt.Sprintf("load-%d-%d", first, s),
						StreamType: "load", Expected: eventstore.NoStream, Events: events})
				}
				if _, err := store.Append(context.Background(), batch...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// floodPool is a pool on a fresh database with room for the subscriptions'
// reads next to the projections and the test's appends.
func floodPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestSubscriptionFloodIsBounded: on a 100,000-event log, one integration
// token opens 10 websockets with 200 subscriptions of the whole log each and
// never reads. The caps refuse most of them, the server closes the sockets
// that stop reading, its heap stays under 256 MiB and comes back to near its
// starting size once they are gone, and a subscriber of another principal
// keeps receiving live events all along. -short seeds 10,000 events.
func TestSubscriptionFloodIsBounded(t *testing.T) {
	logSize := 100_000
	if testing.Short() {
		logSize = 10_000
	}
	const (
		sockets     = 10
		perSocket   = 200
		heapLimit   = 256 << 20
		liveEvents  = 20
		settleLimit = 10 * time.Second
	)
	e := newEnvOn(t, floodPool(t), func(o *graph.Options) {
		o.WebsocketWriteTimeout = 2 * time.Second
	})
	start := time.Now()
	seedLog(t, e.store, logSize)
	t.Logf("seeded %d events in %v", logSize, time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := projection.NewReader(e.store).WaitFor(ctx, e.store.LastAppended()); err != nil {
		t.Fatal(err)
	}
	staff := e.token(t, "sam", staffRole)
	flooder := e.token(t, "feed", domain.RoleIntegration)

	runtime.GC()
	baseline := heapBytes()
	var peak atomic.Uint64
	sampling, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-sampling.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// The well-behaved subscriber follows the log from its end.
	good := e.connectWS(t, ctx, "graphql-transport-ws", staff)
	sub, _ := json.Marshal(map[string]any{"query": `subscription { events(types: ["RiskRegistered"]) { id type streamId } }`})
	send(t, ctx, good, wsMessage{ID: "live", Type: "subscribe", Payload: sub})
	received := make(chan subscribedEvent, liveEvents)
	go func() {
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, good, &m); err != nil {
				close(received)
				return
			}
			switch m.Type {
			case "ping":
				_ = wsjson.Write(ctx, good, wsMessage{Type: "pong"})
			case "next":
				var p struct{ Data subscribedEvent }
				if json.Unmarshal(m.Payload, &p) == nil {
					received <- p.Data
				}
			}
		}
	}()

	// The flood: init and subscribe, never read.
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http")
	flood := make([]*websocket.Conn, sockets)
	for i := range flood {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		flood[i] = c
		defer c.CloseNow()
		if err := wsjson.Write(ctx, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + flooder + `"}`)}); err != nil {
			t.Fatal(err)
		}
		for j := range perSocket {
			err := wsjson.Write(ctx, c, wsMessage{ID: fmt.Sprint(j), Type: "subscribe",
				Payload: json.RawMessage(`{"query":"subscription { events { id type data } }"}`)})
			if err != nil {
				break // the server closed a refused socket
			}
		}
	}

	// Live events reach the well-behaved subscriber while the flood runs.
	for i := range liveEvents {
		e.registerRisk(t, staff, fmt.Sprint("Live ", i))
		select {
		case ev, ok := <-received:
			if !ok || ev.Events.Type != "RiskRegistered" {
				t.Fatalf("live event %d: %+v (open %v)", i, ev, ok)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("live event %d did not reach the well-behaved subscriber within 10s", i)
		}
	}

	// The server closes every flood socket: they stopped reading.
	deadline := time.Now().Add(30 * time.Second)
	for e.api.Websockets() > 1 || e.api.Subscriptions() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d websockets and %d subscriptions still open 30s into the flood", e.api.Websockets(), e.api.Subscriptions())
		}
		time.Sleep(20 * time.Millisecond)
	}
	closedAt := time.Now()
	for _, c := range flood {
		_ = c.CloseNow()
	}
	for {
		runtime.GC()
		h := heapBytes()
		if h <= baseline+baseline/4+16<<20 {
			t.Logf("heap %d MiB at the start, peak %d MiB, %d MiB %v after the sockets closed",
				baseline>>20, peak.Load()>>20, h>>20, time.Since(closedAt).Round(time.Millisecond))
			break
		}
		if time.Since(closedAt) > settleLimit {
			t.Fatalf("heap %d MiB %v after the sockets closed; it was %d MiB at the start", h>>20, settleLimit, baseline>>20)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopSampling()
	<-sampled
	if p := peak.Load(); p >= heapLimit {
		t.Errorf("heap peaked at %d MiB during the flood; the bound is %d MiB", p>>20, heapLimit>>20)
	}
	if e.api.Websockets() != 1 {
		t.Errorf("%d websockets open, want the well-behaved one", e.api.Websockets())
	}
	send(t, ctx, good, wsMessage{ID: "live", Type: "complete"})
	good.Close(websocket.StatusNormalClosure, "")
}
