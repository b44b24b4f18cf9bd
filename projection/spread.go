package projection

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sessionPrefix starts the application_name of every Runner's lock
// session: "riskreg projections <replica>".
const sessionPrefix = "riskreg projections "

// newReplicaID returns a short random id that tells this process's lock
// sessions from other processes'.
func newReplicaID() string {
	return fmt.Sprintf("%08x", rand.Uint32())
}

// sessionName is the application_name of this Runner's lock session.
func (r *Runner) sessionName() string { return sessionPrefix + r.replica }

// held is what a Runner holds: the projections whose locks it has, for
// metrics and for its fair share.
type held struct {
	mu    sync.Mutex
	names map[string]bool
	// lastRelease is when this process last gave a projection up to
	// spread the work (unix nanoseconds).
	lastRelease atomic.Int64
}

func (h *held) set(name string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names == nil {
		h.names = make(map[string]bool)
	}
	if on {
		h.names[name] = true
	} else {
		delete(h.names, name)
	}
}

func (h *held) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.names)
}

// Held returns the names of the projections this Runner runs now (it holds
// their locks), in name order.
func (r *Runner) Held() []string {
	r.held.mu.Lock()
	defer r.held.mu.Unlock()
	out := make([]string, 0, len(r.held.names))
	for n := range r.held.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// replicas counts the processes whose Runners have lock sessions on this
// database (holding or waiting), this one included.
func (r *Runner) replicas(ctx context.Context) (int, error) {
	var n int
	err := r.pool.QueryRow(ctx, `SELECT count(DISTINCT application_name) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name LIKE $1`, sessionPrefix+"%").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("projection: count the replicas: %w", err)
	}
	return max(n, 1), nil
}

// share is this process's fair share of the projections: as many as the
// projections divided by the replicas, rounded up, so that the shares of
// all replicas cover every projection.
func (r *Runner) share(ctx context.Context) (int, error) {
	n, err := r.replicas(ctx)
	if err != nil {
		return 0, err
	}
	p := len(r.cfg.Projections)
	return (p + n - 1) / n, nil
}

// mayTake reports whether this process should try to take another
// projection's lock: always unless Config.Spread is set, else while it holds
// fewer than its share.
func (r *Runner) mayTake(ctx context.Context) bool {
	if !r.cfg.Spread {
		return true
	}
	share, err := r.share(ctx)
	if err != nil {
		return true // a replica that cannot count takes what is free
	}
	return r.held.count() < share
}

// shouldRelease reports whether this process holds more than its share and
// may give one projection up now: at most one every releaseEvery, so that
// the other replicas take each before it gives up the next.
func (r *Runner) shouldRelease(ctx context.Context) bool {
	if !r.cfg.Spread {
		return false
	}
	last := r.held.lastRelease.Load()
	if time.Since(time.Unix(0, last)) < r.releaseEvery() {
		return false
	}
	share, err := r.share(ctx)
	if err != nil || r.held.count() <= share {
		return false
	}
	return r.held.lastRelease.CompareAndSwap(last, time.Now().UnixNano())
}

// releaseEvery is the least time between two projections given up.
func (r *Runner) releaseEvery() time.Duration { return 3 * r.cfg.LockRetryInterval }

// jitter returns a random wait below d, so that replicas started together
// try the locks in different orders.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// Collector returns a Prometheus collector of what this Runner holds:
// riskreg_projection_held{projection} is 1 for each projection this process
// runs, 0 for the others.
func (r *Runner) Collector() prometheus.Collector { return heldCollector{r} }

type heldCollector struct{ r *Runner }

var heldDesc = prometheus.NewDesc("riskreg_projection_held",
	"1 when this process holds the projection's lock and runs it.", []string{"projection"}, nil)

func (c heldCollector) Describe(ch chan<- *prometheus.Desc) { ch <- heldDesc }

func (c heldCollector) Collect(ch chan<- prometheus.Metric) {
	held := c.r.Held()
	for _, p := range c.r.cfg.Projections {
		v := 0.0
		if slices.Contains(held, p.Name()) {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, v, p.Name())
	}
}

// namesOf is for logs: the names, comma-separated.
func namesOf(names []string) string { return strings.Join(names, ",") }
