package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/relay"
	"github.com/riskreg/riskreg/relay/consumer"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// ownDatabase creates an empty database for the consumer (no riskreg
// schema), dropped when the test ends, and returns a pool on it.
func ownDatabase(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// event returns a recorded event of stream s at version v.
func event(s string, v int64) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID: uuid.New(), StreamID: s, StreamType: "risk", Version: v, Type: "RiskUpdated", SchemaVersion: 1,
		Data: []byte(`{"title":"t"}`), Metadata: eventstore.Metadata{Actor: "alice", CorrelationID: "corr-" + s},
		OccurredAt: time.Now(), RecordedAt: time.Now(), Hash: []byte{1, 2},
	}
}

func publish(t *testing.T, pub message.Publisher, topic string, e eventstore.RecordedEvent) {
	t.Helper()
	msg, err := relay.NewMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg.SetContext(ctx)
	if err := pub.Publish(topic, msg); err != nil {
		t.Fatal(err)
	}
}

// amqpBroker returns the URL of a RabbitMQ exchange of the test's own.
func amqpBroker(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.1:5672"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Skipf("no RabbitMQ on %s (start it with: rabbitmq-server -detached); it cannot run in process", addr)
	} else {
		c.Close()
	}
	exchange := "riskreg.events.t" + uuid.NewString()[:8]
	t.Cleanup(func() {
		conn, err := amqp091.Dial("amqp://guest:guest@" + addr + "/")
		if err != nil {
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(exchange+".test", false, false, false)
		_, _ = ch.QueueDelete(exchange+".poison.poison.test", false, false, false)
		_ = ch.ExchangeDelete(exchange, false, false)
		_ = ch.ExchangeDelete(exchange+".poison", false, false)
	})
	return "amqp://guest:guest@" + addr + "/?exchange=" + exchange
}

// runConsumer runs a consumer of group "test" on broker, until the test ends.
func runConsumer(t *testing.T, broker string, store consumer.Store, h consumer.Handler) (*consumer.Consumer, *relay.Subscriber) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := relay.NewSubscriber(ctx, broker, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	poison, poisonTopic := sub.NewPoisonPublisher(ctx)
	c, err := consumer.New(consumer.Config{
		Source: sub, Topic: sub.Topic(), Poison: poison, PoisonTopic: poisonTopic,
		Handler: h, Dedup: store, MaxRetries: 2, RetryInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		sub.Close()
		poison.Close()
	})
	select {
	case <-c.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("consumer did not start")
	}
	return c, sub
}

// TestConsumerDropsDuplicates publishes every event twice through RabbitMQ
// (which does not drop repeats): the handler sees each event once, each
// stream in order, and the ids are kept in the consumer's own database.
func TestConsumerDropsDuplicates(t *testing.T) {
	t.Parallel()
	broker := amqpBroker(t)
	store, err := consumer.NewPostgresStore(context.Background(), ownDatabase(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []relay.Envelope
	all := make(chan struct{})
	const n = 20
	c, _ := runConsumer(t, broker, store, func(ctx context.Context, e relay.Envelope) error {
		if _, ok := consumer.Tx(ctx); !ok {
			return errors.New("no transaction in the handler's context")
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		if len(got) == n {
			close(all)
		}
		return nil
	})
	pub, err := relay.NewPublisher(context.Background(), broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var events []eventstore.RecordedEvent
	for i := range n {
		events = append(events, event(fmt.Sprintf("s%d", i%3), int64(i/3+1)))
	}
	for i, e := range events {
		publish(t, pub, pub.Topic(e.StreamType, e.Type), e)
		if i > 0 { // the previous one again: a relay's repeat
			publish(t, pub, pub.Topic(e.StreamType, e.Type), events[i-1])
		}
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d events handled", len(got), n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, dups := c.Stats(); dups == n-1 {
			break
		}
		if time.Now().After(deadline) {
			h, d := c.Stats()
			t.Fatalf("handled %d, dropped %d duplicates; want %d, %d", h, d, n, n-1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, e := range got {
		if e.ID != events[i].ID.String() {
			t.Fatalf("event %d is %s, want %s", i, e.ID, events[i].ID)
		}
	}
}

// TestConsumerPoisonsFailingEvents: an event whose handler keeps failing,
// and one whose handler panics, go to the poison queue with their
// correlation id after the retries; the others are handled.
func TestConsumerPoisonsFailingEvents(t *testing.T) {
	t.Parallel()
	broker := amqpBroker(t)
	bad, panicky, good := event("a", 1), event("b", 1), event("c", 1)
	var calls, handled atomic.Int32
	runConsumer(t, broker, consumer.NewMemoryStore(0), func(_ context.Context, e relay.Envelope) error {
		calls.Add(1)
		switch e.ID {
		case bad.ID.String():
			return errors.New("cannot handle this one")
		case panicky.ID.String():
			panic("handler bug")
		}
		handled.Add(1)
		return nil
	})
	// A consumer of the poison queue.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	psub, err := relay.NewSubscriber(ctx, broker, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer psub.Close()
	ppub, ptopic := psub.NewPoisonPublisher(ctx)
	ppub.Close()
	poisoned := poisonMessages(t, ctx, broker, ptopic)

	pub, err := relay.NewPublisher(context.Background(), broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, e := range []eventstore.RecordedEvent{bad, panicky, good} {
		publish(t, pub, pub.Topic(e.StreamType, e.Type), e)
	}
	want := map[string]string{bad.ID.String(): "corr-a", panicky.ID.String(): "corr-b"}
	for range want {
		select {
		case m := <-poisoned:
			if corr, ok := want[m.UUID]; !ok || middleware.MessageCorrelationID(m) != corr || m.Metadata.Get(middleware.ReasonForPoisonedKey) == "" {
				t.Errorf("poisoned %s: correlation %q, reason %q", m.UUID, middleware.MessageCorrelationID(m), m.Metadata.Get(middleware.ReasonForPoisonedKey))
			}
			delete(want, m.UUID)
			m.Ack()
		case <-time.After(20 * time.Second):
			t.Fatalf("not poisoned: %v", want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for handled.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the good event was not handled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := calls.Load(); c != 2*3+1 {
		t.Errorf("handler called %d times, want 7 (two events tried 1+2 times, one once)", c)
	}
}

// poisonMessages subscribes to the poison exchange of broker.
func poisonMessages(t *testing.T, ctx context.Context, broker, topic string) <-chan *message.Message {
	t.Helper()
	u, _ := url.Parse(broker)
	q := u.Query()
	q.Set("exchange", q.Get("exchange")+".poison")
	u.RawQuery = q.Encode()
	sub, err := relay.NewSubscriber(ctx, u.String(), "poison.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestPostgresStoreOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := ownDatabase(t)
	store, err := consumer.NewPostgresStore(ctx, pool, "g")
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := store.Once(ctx, "e1", func(context.Context) error {
				runs.Add(1)
				time.Sleep(20 * time.Millisecond)
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times for one id, want 1", runs.Load())
	}
	// A failed handling is not recorded: the event is handled again.
	boom := errors.New("boom")
	if _, err := store.Once(ctx, "e2", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Once = %v, want the handler's error", err)
	}
	if dup, err := store.Once(ctx, "e2", func(context.Context) error { return nil }); dup || err != nil {
		t.Fatalf("after a failure: dup %v, %v", dup, err)
	}
	other, err := consumer.NewPostgresStore(ctx, pool, "other-group")
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := other.Once(ctx, "e1", func(context.Context) error { return nil }); dup || err != nil {
		t.Fatalf("another group: dup %v, %v", dup, err)
	}
	if n, err := store.Prune(ctx, -time.Hour); err != nil || n != 2 {
		t.Errorf("Prune = %d, %v; want 2", n, err)
	}
}

func TestPostgresStoreRefusesRiskregsDatabase(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := consumer.NewPostgresStore(context.Background(), pool, "g"); !errors.Is(err, relay.ErrRiskregDatabase) {
		t.Fatalf("NewPostgresStore on riskreg's database: %v", err)
	}
}

func TestMemoryStoreForgetsOldest(t *testing.T) {
	s := consumer.NewMemoryStore(2)
	ctx := context.Background()
	nop := func(context.Context) error { return nil }
	for _, id := range []string{"a", "b", "c"} {
		if dup, _ := s.Once(ctx, id, nop); dup {
			t.Fatalf("%s: duplicate on first sight", id)
		}
	}
	if dup, _ := s.Once(ctx, "c", nop); !dup {
		t.Error("c forgotten")
	}
	if dup, _ := s.Once(ctx, "a", nop); dup {
		t.Error("a remembered past the limit")
	}
}
