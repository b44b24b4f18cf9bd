package relay_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/eventschema"
	"github.com/riskreg/riskreg/relay"
)

// goChannelPair returns a relay publisher and a subscription on a fresh
// in-process broker, feeding c.
func goChannelPair(t *testing.T, c *collector) *relay.Publisher {
	t.Helper()
	ctx := context.Background()
	url := "gochannel:" + unique()
	pub, err := relay.NewPublisher(ctx, url, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	sub, err := relay.NewSubscriber(ctx, url, "test", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	subCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	msgs, err := sub.Subscribe(subCtx, sub.Topic())
	if err != nil {
		t.Fatal(err)
	}
	go consumeInto(c, msgs, sub.Topic())
	return pub
}

// consumeInto acks every message and records it.
func consumeInto(c *collector, msgs <-chan *message.Message, topic string) {
	for m := range msgs {
		env, err := relay.DecodeMessage(m)
		if err != nil {
			m.Nack()
			continue
		}
		c.add(received{uuid: m.UUID, topic: topic, metadata: m.Metadata, env: env})
		m.Ack()
	}
}

func TestRelayPublishesEveryEvent(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	c := newCollector()
	pub := goChannelPair(t, c)
	appendCycles(t, store, 12)
	// The access stream's events are published too, and have schemas.
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []interface{ EventType() string }{
		auth.TokenIssued{TokenID: "0123456789abcdef", Subject: "clerk", Roles: []string{"staff"}, ExpiresAt: &expires, IssuedBy: "cli:op@host"},
		auth.TokenIssued{TokenID: "1123456789abcdef", Subject: "auditor", Roles: []string{"auditor"}, IssuedBy: "cli:op@host"},
		auth.TokenRevoked{TokenID: "0123456789abcdef", Subject: "clerk", RevokedBy: "cli:op@host"},
	} {
		data, _ := json.Marshal(d)
		if _, err := store.Append(context.Background(), eventstore.StreamAppend{StreamID: auth.AccessStream, StreamType: auth.AccessStreamType,
			Expected: eventstore.Any, Events: []eventstore.Event{{Type: d.EventType(), Data: data, Metadata: eventstore.Metadata{Actor: "cli:op@host"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	events := readLog(t, store)

	r, err := relay.New(store, pub, fastConfig(t, pub.Name(), pub))
	if err != nil {
		t.Fatal(err)
	}
	stop := runRelay(t, r)
	c.waitFor(t, len(events), 30*time.Second)

	got := c.all()
	if repeats := checkDelivery(t, events, got); repeats != 0 {
		t.Errorf("%d repeats without a restart", repeats)
	}
	byID := map[string]eventstore.RecordedEvent{}
	for _, e := range events {
		byID[e.ID.String()] = e
	}
	schemas, err := eventschema.LoadValidator(filepath.Join("..", "docs", "events"))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range got {
		payload, _ := json.Marshal(m.env)
		if err := schemas.Envelope(payload); err != nil {
			t.Errorf("message %s does not match docs/events: %v", m.uuid, err)
		}
		if m.env.Position != events[i].Position.String() {
			t.Fatalf("message %d is at position %s, want %s: not in log order", i, m.env.Position, events[i].Position)
		}
		checkMessage(t, m, byID[m.uuid], relay.DefaultTopicName)
	}

	// The checkpoint is saved, the lag is measured and comes down to zero.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.Status()
		if st.State == relay.StateActive && st.LagEvents == 0 && !st.LagMeasuredAt.IsZero() &&
			st.Position == events[len(events)-1].Position.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never settled: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, _, err := r.Lag(context.Background()); err != nil || n != 0 {
		t.Errorf("Lag = %d, %v; want 0", n, err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(relay.NewCollector(r))
	metrics := gather(t, reg)
	for name, want := range map[string]float64{
		"riskreg_relay_lag_events": 0, "riskreg_relay_published_total": float64(len(events)), "riskreg_relay_active": 1,
	} {
		if got, ok := metrics[name]; !ok || got != want {
			t.Errorf("metric %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	stop()
	if st := r.Status(); st.State != relay.StateStopped || st.Published != uint64(len(events)) {
		t.Errorf("after Run: %+v, want stopped with %d published", st, len(events))
	}
}

func TestRelayLagCountsUnpublishedEvents(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	pub, err := relay.NewPublisher(context.Background(), "gochannel:"+unique(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	events := appendCycles(t, store, 2)
	r, err := relay.New(store, pub, relay.Config{Name: "relay:lag-test"})
	if err != nil {
		t.Fatal(err)
	}
	n, age, err := r.Lag(context.Background())
	if err != nil || n != int64(len(events)) || age <= 0 {
		t.Errorf("Lag before any publishing = %d, %v, %v; want %d events and a positive age", n, age, err, len(events))
	}
}

// TestRelayRestartsAtRandomPoints cancels the relay's context at random
// points while the workload is appended, and starts it again: every event
// arrives at least once, and each stream in order.
func TestRelayRestartsAtRandomPoints(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	c := newCollector()
	pub := goChannelPair(t, c)
	rs := newRestarter(t, store, pub, fastConfig(t, pub.Name(), pub))
	events := rs.churn(100, nil, 30*time.Millisecond)
	c.waitFor(t, len(events), 30*time.Second)
	repeats := checkDelivery(t, events, c.all())
	t.Logf("%d events, %d restarts, %d repeats", len(events), rs.restarts, repeats)
}

// TestLockHandOver runs two relays with one name, as two processes would:
// one publishes, the other waits, and takes over when the first one stops
// or its database session dies.
func TestLockHandOver(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	c := newCollector()
	pub := goChannelPair(t, c)
	cfg := fastConfig(t, pub.Name(), pub)
	a, err := relay.New(store, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := relay.New(store, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopA := runRelay(t, a)
	waitState(t, a, relay.StateActive)
	runRelay(t, b)
	waitState(t, b, relay.StateStandby)

	events := appendCycles(t, store, 3)
	c.waitFor(t, len(events), 30*time.Second)
	if st := b.Status(); st.State != relay.StateStandby || st.Published != 0 {
		t.Fatalf("the standby relay published: %+v", st)
	}

	// The holder stops: the other takes over.
	stopA()
	waitState(t, b, relay.StateActive)
	events = append(events, appendCycles(t, store, 3)[len(events):]...)
	c.waitFor(t, len(events), 30*time.Second)

	// The holder's session dies (as when its process is killed or its
	// network cut): the server releases the lock, a third relay takes
	// over, and the old holder notices and stands by.
	d, err := relay.New(store, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, d)
	waitState(t, d, relay.StateStandby)
	var killed int
	if err := store.Pool().QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the lock holder's session: %d sessions, %v", killed, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		sb, sd := b.Status(), d.Status()
		// b noticed that it lost the lock, and exactly one relay holds it.
		if sb.LastError != "" && (sb.State == relay.StateActive) != (sd.State == relay.StateActive) &&
			(sb.State == relay.StateStandby || sd.State == relay.StateStandby) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no hand-over after the holder's session died: b %+v, d %+v", sb, sd)
		}
		time.Sleep(20 * time.Millisecond)
	}
	all := readLog(t, store)
	all = append(all, appendCycles(t, store, 3)[len(all):]...)
	c.waitFor(t, len(all), 30*time.Second)
	checkDelivery(t, all, c.all())
}

// gather returns the value of every metric of reg that has one series.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				out[f.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[f.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func waitState(t *testing.T, r *relay.Relay, want relay.State) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for r.Status().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("relay never became %s: %+v", want, r.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []relay.Config{
		{},
		{Name: "x", MinBackoff: -1},
		{Name: "x", MinBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate passed", c)
		}
	}
	if err := (relay.Config{Name: "x"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}
