package relay_test

import (
	"context"
	"encoding/json"
	"flag"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/workload"
	"github.com/riskreg/riskreg/relay"
	"github.com/riskreg/riskreg/relay/consumer"
)

var (
	benchCycles  = flag.Int("bench-cycles", 2000, "governance cycles (9 events each) in BenchmarkRelayNATS's log")
	benchRate    = flag.Int("bench-rate", 500, "appends per second in BenchmarkEndToEndLatency")
	benchSeconds = flag.Int("bench-seconds", 10, "how long BenchmarkEndToEndLatency appends")
)

// BenchmarkRelayNATS measures the relay's throughput to NATS JetStream
// (read the log, publish every event with its ack, save checkpoints) next to
// publishing the same messages with nats.go's JetStream client directly, one
// acknowledged publish after the other as the relay does (sync) and
// pipelined (async), each into a fresh stream in the same iteration.
func BenchmarkRelayNATS(b *testing.B) {
	addr, _, _ := natsTarget(b)
	store := newStore(b)
	// Cycles only, as the figures in docs/benchmarks.md were measured.
	if err := (workload.Concurrent{Workers: 8, Cycles: *benchCycles, Seed: 1, V1Assessments: true}).Run(context.Background(), store); err != nil {
		b.Fatal(err)
	}
	events := readLog(b, store)
	msgs := make([]*nats.Msg, len(events))
	for i, e := range events {
		m, err := relay.NewMessage(e)
		if err != nil {
			b.Fatal(err)
		}
		nm := nats.NewMsg("")
		nm.Data = m.Payload
		for k, v := range m.Metadata {
			nm.Header.Set(k, v)
		}
		nm.Header.Set("_watermill_message_uuid", m.UUID)
		nm.Header.Set(nats.MsgIdHdr, m.UUID)
		msgs[i] = nm
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	newStream := func() (string, string) {
		u := unique()
		stream, prefix := "BENCH_"+u, "b"+u+".riskreg.events"
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"},
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = js.DeleteStream(ctx, stream) })
		return stream, prefix
	}
	subject := func(prefix string, e eventstore.RecordedEvent) string {
		return prefix + "." + e.StreamType + "." + e.Type
	}

	var relayTotal, syncTotal, asyncTotal time.Duration
	var ratios []float64 // relay / sync throughput, per iteration
	b.ResetTimer()
	for b.Loop() {
		// The relay, from the start of the log.
		stream, prefix := newStream()
		pub, err := relay.NewPublisher(ctx, natsURL(addr, stream, prefix), quietLogger())
		if err != nil {
			b.Fatal(err)
		}
		r, err := relay.New(store, pub, relay.Config{Name: "bench:" + stream, Target: pub.String(), Topic: pub.Topic, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		stop := runRelay(b, r)
		for r.Status().Published < uint64(len(events)) {
			time.Sleep(time.Millisecond)
		}
		relayTime := time.Since(start)
		relayTotal += relayTime
		stop()
		pub.Close()

		// nats.go, one acknowledged publish at a time.
		_, prefix = newStream()
		start = time.Now()
		for i, m := range msgs {
			m.Subject = subject(prefix, events[i])
			if _, err := js.PublishMsg(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		syncTime := time.Since(start)
		syncTotal += syncTime
		ratios = append(ratios, syncTime.Seconds()/relayTime.Seconds())

		// nats.go, pipelined.
		_, prefix = newStream()
		start = time.Now()
		for i, m := range msgs {
			m.Subject = subject(prefix, events[i])
			if _, err := js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
		asyncTotal += time.Since(start)
	}
	n := float64(len(events) * b.N)
	b.ReportMetric(n/relayTotal.Seconds(), "relay-events/s")
	b.ReportMetric(n/syncTotal.Seconds(), "natsgo-sync-events/s")
	b.ReportMetric(n/asyncTotal.Seconds(), "natsgo-async-events/s")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio-vs-sync")
	b.Logf("relay / nats.go sync throughput, per iteration: %.2f", ratios)
	b.ReportMetric(asyncTotal.Seconds()/relayTotal.Seconds(), "ratio-vs-async")
}

// BenchmarkEndToEndLatency appends single events at -bench-rate per second
// for -bench-seconds and measures the time from the start of each append to
// its delivery to a consumer (relay.Subscriber on NATS JetStream and the
// consumer package's Watermill router with de-duplication in memory).
func BenchmarkEndToEndLatency(b *testing.B) {
	addr, stream, prefix := natsTarget(b)
	store := newStore(b)
	url := natsURL(addr, stream, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	started := map[string]time.Time{}
	var latencies []time.Duration
	total := *benchRate * *benchSeconds
	done := make(chan struct{})

	pub, err := relay.NewPublisher(ctx, url, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	r, err := relay.New(store, pub, relay.Config{Name: pub.Name(), Target: pub.String(), Topic: pub.Topic, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	runRelay(b, r)
	sub, err := relay.NewSubscriber(ctx, url, "bench", quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	c, err := consumer.New(consumer.Config{Source: sub, Topic: sub.Topic(), Logger: quietLogger(),
		Handler: func(_ context.Context, e relay.Envelope) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if t0, ok := started[e.ID]; ok {
				latencies = append(latencies, now.Sub(t0))
				if len(latencies) == total {
					close(done)
				}
			}
			return nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = c.Run(ctx) }()
	<-c.Running()

	data, _ := json.Marshal(domain.RiskUpdated{Title: new(string)})
	b.ResetTimer()
	for b.Loop() {
		mu.Lock()
		latencies, done = latencies[:0], make(chan struct{})
		finished := done
		mu.Unlock()
		jobs := make(chan struct{}, total)
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for range jobs {
					id := uuid.New()
					mu.Lock()
					started[id.String()] = time.Now()
					mu.Unlock()
					_, err := store.Append(ctx, eventstore.StreamAppend{StreamID: uuid.NewString(), StreamType: domain.StreamRisk,
						Expected: eventstore.NoStream, Events: []eventstore.Event{{ID: id, Type: domain.EventRiskUpdated, Data: data,
							Metadata: eventstore.Metadata{Actor: "bench"}}}})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		tick := time.NewTicker(time.Second / time.Duration(*benchRate))
		for range total {
			<-tick.C
			jobs <- struct{}{}
		}
		tick.Stop()
		close(jobs)
		wg.Wait()
		select {
		case <-finished:
		case <-time.After(time.Minute):
			b.Fatalf("not every event reached the consumer within a minute")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.Logf("%d events at %d/s: p50 %.1fms p95 %.1fms p99 %.1fms max %.1fms", len(latencies), *benchRate, q(0.5), q(0.95), q(0.99), q(1))
}
