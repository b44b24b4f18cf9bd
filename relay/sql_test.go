package relay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/relay"
)

// brokerDatabase creates an empty database (no riskreg schema) on the test
// server, dropped when the test ends, and returns its URL.
func brokerDatabase(t testing.TB) string {
	t.Helper()
	return pgtest.NewEmptyDatabase(t)
}

func TestPostgresPublishesEveryEvent(t *testing.T) {
	t.Parallel()
	broker := brokerDatabase(t)
	store := newStore(t)
	events := appendCycles(t, store, 6)
	ctx := context.Background()

	pub, err := relay.NewPublisher(ctx, broker, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	r, err := relay.New(store, pub, fastConfig(t, pub.Name(), pub))
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, r)

	sub, err := relay.NewSubscriber(ctx, broker, "test", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := sub.Subscribe(subCtx, sub.Topic())
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	go consumeInto(c, msgs, sub.Topic())
	c.waitFor(t, len(events), 30*time.Second)
	got := c.all()
	if repeats := checkDelivery(t, events, got); repeats != 0 {
		t.Errorf("%d repeats without a restart", repeats)
	}
	for i, e := range events {
		checkMessage(t, got[i], e, relay.DefaultTopicName)
	}
}

func TestPostgresRefusesRiskregsDatabase(t *testing.T) {
	t.Parallel()
	own := pgtest.NewDatabase(t)
	pub, err := relay.NewPublisher(context.Background(), own, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	err = pub.Publish(relay.DefaultTopicName, message.NewMessage("x", []byte("{}")))
	if !errors.Is(err, relay.ErrRiskregDatabase) {
		t.Fatalf("publish into riskreg's own database: %v, want ErrRiskregDatabase", err)
	}
}
