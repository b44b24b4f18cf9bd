package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
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

// seedLog writes n events of a type no projection reads into the log, on
// streams of 1,000 events, in one INSERT, then appends one more through the
// store so that LastAppended stands after them. The rows skip the store's
// append path to be quick also under the race detector: their hashes are
// stand-ins, not the chain's (the test reads the log, never verifies it).
func seedLog(t testing.TB, store *eventstore.Store, n int) {
	t.Helper()
	ctx := context.Background()
	data := `{"title": "Supply chain disruption", "description": "Loss of a key supplier delays customs systems", "owner": "Director of Finance"}`
	_, err := store.Pool().Exec(ctx, `
		INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, actor, occurred_at, prev_hash, hash)
		SELECT gen_random_uuid(), 'load-' || (g / 1000), 'load', g % 1000 + 1, 'LoadNoted', 1, $1::jsonb, 'seed', now(),
			CASE WHEN g % 1000 = 0 THEN '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
			     ELSE sha256((g - 1)::text::bytea) END,
			sha256(g::text::bytea)
		FROM generate_series(0, $2 - 1) g ORDER BY g`, data, n)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Pool().Exec(ctx, `
		INSERT INTO streams (stream_id, stream_type, version, last_hash)
		SELECT stream_id, 'load', max(version), sha256((max(version) - 1 + 1000 * split_part(stream_id, '-', 2)::bigint)::text::bytea)
		FROM events WHERE stream_type = 'load' GROUP BY stream_id`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Append(ctx, eventstore.StreamAppend{StreamID: "load-end", StreamType: "load", Expected: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "LoadNoted", Data: json.RawMessage(data), Metadata: eventstore.Metadata{Actor: "seed"}}}})
	if err != nil {
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
		liveEvents  = 5
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
	t.Logf("projections caught up %v after the seed began", time.Since(start).Round(time.Millisecond))
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
	floodStart := time.Now()
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
		case <-time.After(30 * time.Second): // generous: the flood competes for the CPU under -race
			t.Fatalf("live event %d did not reach the well-behaved subscriber within 30s", i)
		}
	}

	t.Logf("%d live events reached the well-behaved subscriber %v into the flood", liveEvents, time.Since(floodStart).Round(time.Millisecond))

	// The server closes every flood socket: they stopped reading.
	deadline := time.Now().Add(60 * time.Second)
	for e.api.Websockets() > 1 || e.api.Subscriptions() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d websockets and %d subscriptions still open 60s after the live events", e.api.Websockets(), e.api.Subscriptions())
		}
		time.Sleep(20 * time.Millisecond)
	}
	closedAt := time.Now()
	t.Logf("the server closed the flood's sockets %v after the first", closedAt.Sub(floodStart).Round(time.Millisecond))
	for _, c := range flood {
		_ = c.CloseNow()
	}
	for {
		runtime.GC()
		h := heapBytes()
		if h <= baseline+baseline/4+8<<20 {
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
