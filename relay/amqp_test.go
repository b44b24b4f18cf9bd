package relay_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/relay"
)

// rabbitAddr is where the tests look for RabbitMQ (user guest, password
// guest). RabbitMQ cannot run inside the test process.
const rabbitAddr = "127.0.0.1:5672"

// amqpTarget returns an exchange of the test's own and a queue bound to all
// of its messages, declared before anything is published; both are deleted
// when the test ends.
func amqpTarget(t testing.TB) (exchange string, deliveries <-chan amqp091.Delivery) {
	t.Helper()
	if !reachable(rabbitAddr) {
		t.Skipf("no RabbitMQ on %s (start it with: rabbitmq-server -detached); it cannot run in process", rabbitAddr)
	}
	conn, err := amqp091.Dial("amqp://guest:guest@" + rabbitAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	exchange = "riskreg.events.t" + unique()
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err = ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(exchange, false, false)
			_ = ch.ExchangeDelete(exchange+".poison", false, false)
			_ = ch.ExchangeDelete(exchange+".log", false, false)
			_, _ = ch.QueueDelete(exchange+".log."+checkpointGroup, false, false, false)
		}
	})
	return exchange, deliveries
}

func amqpURL(addr, exchange string) string {
	return fmt.Sprintf("amqp://guest:guest@%s/?exchange=%s", addr, exchange)
}

// collectAMQP records deliveries into c, checking the AMQP properties.
func collectAMQP(t testing.TB, deliveries <-chan amqp091.Delivery, c *collector) {
	go func() {
		for d := range deliveries {
			md := map[string]string{}
			for k, v := range d.Headers {
				s, _ := v.(string)
				md[k] = s
			}
			env, err := relay.DecodeMessage(wmMessage(d.MessageId, d.Body))
			if err != nil {
				t.Errorf("delivery %s: %v", d.RoutingKey, err)
				continue
			}
			if d.MessageId != env.ID || d.DeliveryMode != amqp091.Persistent || d.ContentType != "application/json" || d.Type != env.Type {
				t.Errorf("event %s: message id %q, delivery mode %d, content type %q, type %q",
					env.ID, d.MessageId, d.DeliveryMode, d.ContentType, d.Type)
			}
			c.add(received{uuid: md["_watermill_message_uuid"], topic: d.RoutingKey, metadata: md, env: env})
		}
	}()
}

func TestAMQPPublishesEveryEvent(t *testing.T) {
	t.Parallel()
	exchange, deliveries := amqpTarget(t)
	c := newCollector()
	collectAMQP(t, deliveries, c)
	store := newStore(t)
	events := appendCycles(t, store, 10)

	pub, err := relay.NewPublisher(context.Background(), amqpURL(rabbitAddr, exchange), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	r, err := relay.New(store, pub, fastConfig(t, pub.Name(), pub))
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, r)
	c.waitFor(t, len(events), 30*time.Second)
	got := c.all()
	if repeats := checkDelivery(t, events, got); repeats != 0 {
		t.Errorf("%d repeats without a restart", repeats)
	}
	for i, e := range events {
		checkMessage(t, got[i], e, e.StreamType+"."+e.Type)
	}
}

// TestAMQPRestartsAndOutages publishes a workload while the relay is
// stopped at random points and RabbitMQ is cut off now and then, starting
// with a closed port: every event arrives at least once, each stream in
// order once repeats are dropped.
func TestAMQPRestartsAndOutages(t *testing.T) {
	t.Parallel()
	exchange, deliveries := amqpTarget(t)
	c := newCollector()
	collectAMQP(t, deliveries, c)
	p := newProxy(t, rabbitAddr)
	p.stop()
	store := newStore(t)
	pub, err := relay.NewPublisher(context.Background(), amqpURL(p.addr, exchange), quietLogger())
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
	before := appendCycles(t, store, 3)
	waitLag(t, r, int64(len(before)))
	if st := r.Status(); st.State != relay.StateRetrying || st.Published != 0 {
		t.Fatalf("with the broker down: %+v", st)
	}
	p.start(t)

	rs := &restarter{t: t, store: store, pub: pub, cfg: cfg, r: r, stop: stop}
	events := rs.churn(30, p, 150*time.Millisecond)
	c.waitFor(t, len(events), 60*time.Second)
	got := c.all()
	repeats := checkDelivery(t, events, got)
	byID := map[string]eventstore.RecordedEvent{}
	for _, e := range events {
		byID[e.ID.String()] = e
	}
	for _, m := range got {
		e := byID[m.uuid]
		checkMessage(t, m, e, e.StreamType+"."+e.Type)
	}
	t.Logf("%d events, %d repeats, %d failed publishes", len(events), repeats, rs.failures+rs.r.Status().Failures)
}

// A publisher that published and is closed, and a subscriber that is closed,
// log nothing at ERROR: a normal shutdown is not a failure.
func TestAMQPShutdownLogsNoError(t *testing.T) {
	exchange, deliveries := amqpTarget(t)
	var logs syncLog
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	url := amqpURL(rabbitAddr, exchange)
	pub, err := relay.NewPublisher(t.Context(), url, logger)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := relay.NewSubscriber(t.Context(), url, "shutdown"+unique(), logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(t.Context(), sub.Topic()); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(pub.Topic("Risk", "RiskRegistered"), wmMessage(unique(), []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-deliveries:
	case <-time.After(30 * time.Second):
		t.Fatal("the message did not arrive")
	}
	if err := pub.Close(); err != nil {
		t.Errorf("close publisher: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("close subscriber: %v", err)
	}
	if s := logs.String(); strings.Contains(s, "level=ERROR") {
		t.Errorf("shutdown logged errors:\n%s", s)
	}
}

// syncLog is a log sink safe for concurrent writers.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
