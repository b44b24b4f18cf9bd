package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// cutProxy forwards TCP connections to a server and can cut them all at once,
// like a network that drops connections at random moments.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestLostConnectionsNeverDuplicate cuts every database connection again and
// again while appends run. Callers retry failed appends with the same event
// ids, as the store tells them to: in the end every event is stored exactly
// once.
func TestLostConnectionsNeverDuplicate(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Cut every 10 ms: long enough to fail every attempt of the store's
	// own retries, so that callers see failures and retry. Once 20 cuts in a
	// row let no append through, cut half as often each time, back to every
	// 10 ms after one does: on a slow or loaded machine a fixed rhythm of
	// cuts can starve every append, and the test would fail by chance.
	stop := make(chan struct{})
	var stored atomic.Int64
	go func() {
		interval, done, barren := 10*time.Millisecond, stored.Load(), 0
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
				proxy.cut()
			}
			if now := stored.Load(); now != done {
				interval, done, barren = 10*time.Millisecond, now, 0
			} else if barren++; barren >= 20 {
				interval = min(2*interval, time.Second)
			}
		}
	}()

	const writers, each = 4, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := ev("Cut", fmt.Sprintf(`{"w": %d, "i": %d}`, w, i))
				e.ID = uuid.New()
				sa := eventstore.StreamAppend{StreamID: fmt.Sprintf("cut-%d-%d", w, i), StreamType: "thing", Expected: eventstore.NoStream, Events: []eventstore.Event{e}}
				for {
					_, err := s.Append(ctx, sa)
					if err == nil {
						stored.Add(1)
						break
					}
					if errors.Is(err, eventstore.ErrConcurrency) || errors.Is(err, eventstore.ErrInvalidInput) || ctx.Err() != nil {
						t.Errorf("append %s: %v", sa.StreamID, err)
						return
					}
					mu.Lock()
					failures++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if failures == 0 {
		t.Log("no append failed: the cuts missed every commit this time")
	}

	check, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var events, streams, maxVersion int
	err = check.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT stream_id), max(version) FROM events`).Scan(&events, &streams, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	if events != writers*each || streams != writers*each || maxVersion != 1 {
		t.Errorf("stored %d events in %d streams, highest version %d; want %d, %d, 1", events, streams, maxVersion, writers*each, writers*each)
	}
}
