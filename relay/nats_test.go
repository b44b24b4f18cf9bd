package relay_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/relay"
)

// natsAddr is the NATS server the tests use: the machine's on
// 127.0.0.1:4222 when it runs (and RELAY_TEST_NATS is not "embedded"), else
// one started in this process.
var natsAddr = sync.OnceValues(func() (string, error) {
	if os.Getenv("RELAY_TEST_NATS") != "embedded" && reachable("127.0.0.1:4222") {
		return "127.0.0.1:4222", nil
	}
	dir, err := os.MkdirTemp("", "riskreg-relay-nats-")
	if err != nil {
		return "", err
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		return "", err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return "", fmt.Errorf("the in-process NATS server did not start")
	}
	embedded = func() {
		s.Shutdown()
		s.WaitForShutdown()
		os.RemoveAll(dir)
	}
	return s.Addr().String(), nil
})

// embedded stops the in-process NATS server, if one was started.
var embedded = func() {}

// natsTarget returns the address of a NATS server with JetStream and a
// stream name and subject prefix of the test's own.
func natsTarget(t testing.TB) (addr, stream, prefix string) {
	t.Helper()
	addr, err := natsAddr()
	if err != nil {
		t.Skipf("no NATS server on 127.0.0.1:4222, and an in-process one cannot start: %v", err)
	}
	u := unique()
	stream, prefix = "RISKREG_T"+u, "t"+u+".riskreg.events"
	t.Cleanup(func() {
		nc, err := nats.Connect("nats://" + addr)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
		_ = js.DeleteStream(ctx, stream+"_POISON")
		_ = js.DeleteStream(ctx, stream+"_LOG")
	})
	return addr, stream, prefix
}

func natsURL(addr, stream, prefix string) string {
	return fmt.Sprintf("nats://%s?stream=%s&prefix=%s", addr, stream, prefix)
}

// readStream reads every message of a JetStream stream, in stream order,
// until it holds at least n, and checks that no more follow.
func readStream(t testing.TB, addr, stream string, n int, timeout time.Duration) []received {
	t.Helper()
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cons jetstream.Consumer
	for { // the relay creates the stream when it first connects
		if cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{}); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("stream %s: %v", stream, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got []received
	for len(got) < n || ctx.Err() == nil {
		wait := time.Second
		if len(got) >= n {
			wait = 300 * time.Millisecond // a last look for extra messages
		}
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for m := range batch.Messages() {
			count++
			md := map[string]string{}
			for k, v := range m.Headers() {
				md[k] = v[0]
			}
			env, err := relay.DecodeMessage(wmMessage(md["_watermill_message_uuid"], m.Data()))
			if err != nil {
				t.Fatalf("message %s: %v", m.Subject(), err)
			}
			if md[nats.MsgIdHdr] != env.ID || md["_watermill_message_uuid"] != env.ID {
				t.Errorf("event %s: Nats-Msg-Id %q, watermill UUID %q", env.ID, md[nats.MsgIdHdr], md["_watermill_message_uuid"])
			}
			got = append(got, received{uuid: env.ID, topic: m.Subject(), metadata: md, env: env})
		}
		if ctx.Err() != nil && len(got) < n {
			t.Fatalf("timed out: %d of %d messages in stream %s", len(got), n, stream)
		}
		if len(got) >= n && count == 0 {
			break
		}
	}
	return got
}

func TestNATSPublishesEveryEvent(t *testing.T) {
	t.Parallel()
	addr, stream, prefix := natsTarget(t)
	store := newStore(t)
	events := appendCycles(t, store, 10)

	pub, err := relay.NewPublisher(context.Background(), natsURL(addr, stream, prefix), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	r, err := relay.New(store, pub, fastConfig(t, pub.Name(), pub))
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, r)

	got := readStream(t, addr, stream, len(events), 30*time.Second)
	if len(got) != len(events) {
		t.Fatalf("stream holds %d messages, want %d", len(got), len(events))
	}
	for i, e := range events {
		checkMessage(t, got[i], e, prefix+"."+e.StreamType+"."+e.Type)
	}
}

// TestNATSRestartsAndOutages publishes a workload while the relay is
// stopped at random points and the broker is cut off now and then, starting
// with a closed port: every event arrives once (JetStream drops the repeats
// by Nats-Msg-Id), each stream in order.
func TestNATSRestartsAndOutages(t *testing.T) {
	t.Parallel()
	addr, stream, prefix := natsTarget(t)
	p := newProxy(t, addr)
	p.stop() // the broker is down when the relay starts
	store := newStore(t)
	pub, err := relay.NewPublisher(context.Background(), natsURL(p.addr, stream, prefix), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cfg := fastConfig(t, pub.Name(), pub)
	cfg.Logger = quietLogger()

	r, err := relay.New(store, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runRelay(t, r)
	before := appendCycles(t, store, 5)
	deadline := time.Now().Add(10 * time.Second)
	for r.Status().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the relay never reported the broker down: %+v", r.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.Status(); st.State != relay.StateRetrying || st.Published != 0 {
		t.Fatalf("with the broker down: %+v", st)
	}
	waitLag(t, r, int64(len(before)))
	p.start(t)

	rs := &restarter{t: t, store: store, pub: pub, cfg: cfg, r: r, stop: stop}
	events := rs.churn(40, p, 100*time.Millisecond)
	got := readStream(t, addr, stream, len(events), 60*time.Second)
	if repeats := checkDelivery(t, events, got); repeats != 0 {
		t.Errorf("%d repeats in the stream; JetStream should have dropped them", repeats)
	}
	byID := map[string]eventstore.RecordedEvent{}
	for _, e := range events {
		byID[e.ID.String()] = e
	}
	for _, m := range got {
		e := byID[m.uuid]
		checkMessage(t, m, e, prefix+"."+e.StreamType+"."+e.Type)
	}
	t.Logf("%d events; %d failed publishes", len(events), rs.failures+rs.r.Status().Failures)
}
