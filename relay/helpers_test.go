package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/workload"
	"github.com/riskreg/riskreg/register"
	"github.com/riskreg/riskreg/relay"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	embedded()
	os.Exit(code)
}

// wmMessage returns a Watermill message, for decoding a payload read with a
// broker's own client.
func wmMessage(uuid string, payload []byte) *message.Message {
	return message.NewMessage(uuid, payload)
}

// waitLag waits until the relay reports a lag of n events.
func waitLag(t testing.TB, r *relay.Relay, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.Status().LagEvents != n {
		if time.Now().After(deadline) {
			t.Fatalf("lag never reached %d events: %+v", n, r.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLogger logs warnings and errors to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// quietLogger drops everything.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newStore returns a store on a fresh database, with the register's
// upcasters, closed when the test ends.
func newStore(t testing.TB) *eventstore.Store {
	t.Helper()
	pool := pgtest.NewPool(t)
	s, err := eventstore.New(pool, eventstore.Config{
		Upcasters:    register.Upcasters(),
		PollInterval: 100 * time.Millisecond,
		Logger:       quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// unique returns a short random name part, so that parallel tests on one
// broker never share a stream, exchange or queue.
func unique() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// churnSteps is the number of random commands the workload runs after each
// governance cycle, so that the relay publishes every kind of event.
const churnSteps = 2

// runWorkload appends cycles governance cycles, each followed by a few
// random commands, from workers goroutines at once: decisions append to
// several streams in one transaction, and the first inherent assessment of
// each goroutine and every fourth after it is stored at schema version 1,
// which the relay must publish upcast to version 2.
func runWorkload(t testing.TB, s *eventstore.Store, cycles, workers int) error {
	seed := uint64(time.Now().UnixNano())
	t.Logf("workload: %d cycles from %d goroutines, seed %d", cycles, workers, seed)
	return workload.Concurrent{Workers: workers, Cycles: cycles, Steps: churnSteps, Seed: seed, V1Assessments: true}.Run(context.Background(), s)
}

// appendCycles appends cycles governance cycles (see runWorkload) and
// returns the log.
func appendCycles(t testing.TB, s *eventstore.Store, cycles int) []eventstore.RecordedEvent {
	t.Helper()
	if err := runWorkload(t, s, cycles, 4); err != nil {
		t.Fatal(err)
	}
	return readLog(t, s)
}

// readLog returns the whole global log.
func readLog(t testing.TB, s *eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var all []eventstore.RecordedEvent
	var after eventstore.Position
	for {
		page, err := s.ReadAll(context.Background(), after, 1000, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// received is one message as a consumer saw it.
type received struct {
	uuid     string
	topic    string // subject or routing key, where the backend tells
	metadata map[string]string
	env      relay.Envelope
}

// collector gathers received messages from any goroutine.
type collector struct {
	mu   sync.Mutex
	msgs []received
	ids  map[string]bool
	more chan struct{}
}

func newCollector() *collector {
	return &collector{ids: map[string]bool{}, more: make(chan struct{}, 1)}
}

func (c *collector) add(r received) {
	c.mu.Lock()
	c.msgs = append(c.msgs, r)
	c.ids[r.uuid] = true
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// distinct returns the number of distinct event ids received.
func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

func (c *collector) all() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.msgs...)
}

// waitFor waits until n distinct events arrived.
func (c *collector) waitFor(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for c.distinct() < n {
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("timed out: %d of %d events arrived", c.distinct(), n)
		}
	}
}

// checkDelivery checks that every event of want arrived at least once, that
// nothing else arrived, and that, keeping the first arrival of each event,
// every stream arrived in version order with no gap. It returns the number
// of repeats.
func checkDelivery(t testing.TB, want []eventstore.RecordedEvent, got []received) (repeats int) {
	t.Helper()
	byID := make(map[string]eventstore.RecordedEvent, len(want))
	for _, e := range want {
		byID[e.ID.String()] = e
	}
	seen := map[string]bool{}
	next := map[string]int64{} // stream -> last version seen
	for _, r := range got {
		e, ok := byID[r.uuid]
		if !ok {
			t.Errorf("unexpected message %s", r.uuid)
			continue
		}
		if seen[r.uuid] {
			repeats++
			continue
		}
		seen[r.uuid] = true
		if e.Version != next[e.StreamID]+1 {
			t.Errorf("stream %s: version %d arrived after version %d", e.StreamID, e.Version, next[e.StreamID])
		}
		next[e.StreamID] = e.Version
	}
	var missing []string
	for id := range byID {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d of %d events never arrived, e.g. %s", len(missing), len(want), missing[0])
	}
	return repeats
}

// checkMessage checks one message against the event it carries: topic,
// metadata and envelope.
func checkMessage(t testing.TB, r received, e eventstore.RecordedEvent, wantTopic string) {
	t.Helper()
	if wantTopic != "" && r.topic != wantTopic {
		t.Errorf("event %s (%s): topic %q, want %q", e.ID, e.Type, r.topic, wantTopic)
	}
	want := map[string]string{
		relay.MetaEventType:     e.Type,
		relay.MetaStreamID:      e.StreamID,
		relay.MetaStreamType:    e.StreamType,
		relay.MetaVersion:       fmt.Sprint(e.Version),
		relay.MetaSchemaVersion: fmt.Sprint(e.SchemaVersion),
		relay.MetaPosition:      e.Position.String(),
		relay.MetaActor:         e.Metadata.Actor,
		relay.MetaCorrelationID: e.Metadata.CorrelationID,
		relay.MetaCausationID:   e.Metadata.CausationID,
		relay.MetaDecisionID:    e.Metadata.DecisionID,
	}
	for k, v := range want {
		if r.metadata[k] != v {
			t.Errorf("event %s (%s): metadata %s = %q, want %q", e.ID, e.Type, k, r.metadata[k], v)
		}
	}
	wantEnv, _ := json.Marshal(relay.EnvelopeOf(e))
	gotEnv, _ := json.Marshal(r.env)
	if string(gotEnv) != string(wantEnv) {
		t.Errorf("event %s: envelope\n got %s\nwant %s", e.ID, gotEnv, wantEnv)
	}
	if e.Type == domain.EventRiskAssessed && (r.env.SchemaVersion != 2 || !json.Valid(r.env.Data)) {
		t.Errorf("RiskAssessed published at schema version %d, want 2 (upcast)", r.env.SchemaVersion)
	}
}

// reachable reports whether something listens on addr.
func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// proxy forwards TCP connections from a local port to a broker, and can be
// stopped (closing every connection and the port) and started again on the
// same port: a broker outage that harms no one else's broker.
type proxy struct {
	to   string
	addr string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newProxy(t testing.TB, to string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{to: to, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // stopped meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
	up.Close()
}

// stop closes the port and every connection through it.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// start listens on the same port again.
func (p *proxy) start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
}

// runRelay runs r until the returned stop is called; stop waits for Run.
func runRelay(t testing.TB, r *relay.Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("relay.Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("relay.Run did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// fastConfig is a relay configuration with short intervals for tests.
func fastConfig(t testing.TB, name string, pub interface {
	Topic(string, string) string
	String() string
}) relay.Config {
	return relay.Config{
		Name:           name,
		Target:         pub.String(),
		Topic:          pub.Topic,
		PublishTimeout: 5 * time.Second,
		MinBackoff:     20 * time.Millisecond,
		MaxBackoff:     500 * time.Millisecond,
		LockInterval:   200 * time.Millisecond,
		LagInterval:    200 * time.Millisecond,
		Logger:         testLogger(t),
	}
}

// restarter runs one relay at a time and replaces it on demand, as a process
// that is stopped and started again would.
type restarter struct {
	t        testing.TB
	store    *eventstore.Store
	pub      message.Publisher
	cfg      relay.Config
	r        *relay.Relay
	stop     func()
	restarts int
	failures uint64 // failed publishes of the relays replaced so far
}

func newRestarter(t testing.TB, store *eventstore.Store, pub message.Publisher, cfg relay.Config) *restarter {
	rs := &restarter{t: t, store: store, pub: pub, cfg: cfg}
	rs.start()
	return rs
}

func (rs *restarter) start() {
	r, err := relay.New(rs.store, rs.pub, rs.cfg)
	if err != nil {
		rs.t.Fatal(err)
	}
	rs.r, rs.stop = r, runRelay(rs.t, r)
}

func (rs *restarter) restart() {
	rs.stop()
	rs.failures += rs.r.Status().Failures
	rs.restarts++
	rs.start()
}

// maxChurns bounds the restarts and outages of one churn: enough to hit
// every point of a relay's life many times, few enough that the churn does
// not starve the database (each restart opens a lock session) on a slow
// machine, which would stretch the workload instead of testing the relay.
const maxChurns = 300

// churn appends cycles governance cycles while, every few milliseconds,
// the relay is restarted or (with a proxy) the broker cut off for a while,
// at most maxChurns times. It returns the log.
func (rs *restarter) churn(cycles int, p *proxy, pause time.Duration) []eventstore.RecordedEvent {
	t := rs.t
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- runWorkload(t, rs.store, cycles, 4) }()
	for churns := 0; ; churns++ {
		if churns >= maxChurns {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			return readLog(t, rs.store)
		}
		time.Sleep(time.Duration(mrand.Int64N(int64(pause))))
		switch {
		case p == nil || mrand.IntN(2) == 0:
			rs.restart()
		default:
			p.stop()
			time.Sleep(time.Duration(mrand.IntN(300)) * time.Millisecond)
			p.start(t)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return readLog(t, rs.store)
		default:
		}
	}
}
