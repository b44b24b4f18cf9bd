package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/internal/eventschema"
	"github.com/riskreg/riskreg/relay"
)

// checkpointGroup is the consumer group of the checkpoint tests.
const checkpointGroup = "checkpoint-test"

func TestCheckpointsOnNATS(t *testing.T) {
	t.Parallel()
	addr, stream, prefix := natsTarget(t)
	testCheckpointsOnBroker(t, natsURL(addr, stream, prefix), prefix[:len(prefix)-len(".events")]+".log.checkpoint")
}

func TestCheckpointsOnRabbitMQ(t *testing.T) {
	t.Parallel()
	exchange, _ := amqpTarget(t)
	testCheckpointsOnBroker(t, amqpURL(rabbitAddr, exchange), relay.CheckpointSubject)
}

func TestCheckpointsOnPostgres(t *testing.T) {
	t.Parallel()
	testCheckpointsOnBroker(t, brokerDatabase(t), relay.CheckpointSubject)
}

func TestCheckpointsOnGoChannel(t *testing.T) {
	t.Parallel()
	testCheckpointsOnBroker(t, "gochannel:"+unique(), relay.CheckpointSubject)
}

// testCheckpointsOnBroker stores signed checkpoints, runs a relay with
// checkpoints to the broker at url, restarts it, and checks that a consumer
// of the checkpoint topic (wantTopic) got each checkpoint once, in order,
// and nothing else.
func testCheckpointsOnBroker(t *testing.T, url, wantTopic string) {
	ctx := context.Background()
	store := newStore(t)
	insert := func(from, to int) {
		t.Helper()
		for size := from; size <= to; size++ {
			if _, err := store.Pool().Exec(ctx, `INSERT INTO log_checkpoints (origin, size, root, note, verifier)
				VALUES ('riskreg.test/log', $1::bigint, sha256($2::bytea), $3, 'riskreg.test/log+0000+key')`,
				size, []byte(fmt.Sprint(size)), fmt.Sprintf("riskreg.test/log\n%d\n...\n", size)); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(1, 3)
	appendCycles(t, store, 1) // events too: they go to the events' topics only

	pub, err := relay.NewPublisher(ctx, url, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cpub, topic := pub.CheckpointPublisher(ctx)
	defer cpub.Close()
	if topic != wantTopic {
		t.Errorf("checkpoint topic %q, want %q", topic, wantTopic)
	}
	sub, subTopic, err := relay.NewCheckpointSubscriber(ctx, url, checkpointGroup, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := sub.Subscribe(subCtx, subTopic)
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := eventschema.LoadValidator(filepath.Join("..", "docs", "events"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []relay.CheckpointMessage
	var ids []string
	arrived := make(chan struct{}, 100)
	go func() {
		for m := range msgs {
			var c relay.CheckpointMessage
			if err := json.Unmarshal(m.Payload, &c); err != nil || c.Note == "" {
				t.Errorf("not a checkpoint message: %s (%v)", m.Payload, err)
			}
			if err := schemas.Checkpoint(m.Payload); err != nil {
				t.Errorf("checkpoint message %s does not match docs/events: %v", m.Payload, err)
			}
			mu.Lock()
			got, ids = append(got, c), append(ids, m.UUID)
			mu.Unlock()
			m.Ack()
			arrived <- struct{}{}
		}
	}()
	waitSizes := func(n uint64) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			mu.Lock()
			done := len(got) > 0 && got[len(got)-1].Size == n
			mu.Unlock()
			if done {
				return
			}
			select {
			case <-arrived:
			case <-deadline:
				t.Fatalf("checkpoint %d never arrived; got %+v", n, got)
			}
		}
	}
	run := func() func() {
		cfg := fastConfig(t, pub.Name(), pub)
		cfg.Checkpoints = &relay.CheckpointTarget{Publisher: cpub, Topic: topic}
		cfg.CheckpointInterval = 20 * time.Millisecond
		cfg.Source = "test-instance"
		r, err := relay.New(store, pub, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return runRelay(t, r)
	}

	stop := run()
	waitSizes(3)
	stop()
	insert(4, 5)
	stop = run() // a restart: it goes on from its cursor
	waitSizes(5)
	stop()
	// One more after a restart: everything published before it was
	// delivered before it, so a repeat would show now.
	insert(6, 6)
	stop = run()
	waitSizes(6)
	stop()

	mu.Lock()
	defer mu.Unlock()
	var sizes []uint64
	for i, c := range got {
		sizes = append(sizes, c.Size)
		if c.Origin != "riskreg.test/log" || c.Source != "test-instance" || len(c.Root) != 44 || c.SignedAt.IsZero() ||
			c.Note != fmt.Sprintf("riskreg.test/log\n%d\n...\n", c.Size) || c.Verifier != "riskreg.test/log+0000+key" {
			t.Errorf("checkpoint %d: %+v", i, c)
		}
	}
	if want := []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(sizes, want) {
		t.Errorf("checkpoints arrived with sizes %v, want %v once each in order", sizes, want)
	}
	if unique := slices.Compact(slices.Sorted(slices.Values(ids))); len(unique) != len(ids) {
		t.Errorf("repeated message ids: %v", ids)
	}
}
