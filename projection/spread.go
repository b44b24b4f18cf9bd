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

	"github.com/jackc/pgx/v5"
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

// holdings returns, for every process whose Runner has a lock session on
// this database (holding or waiting), this one included, how many
// projection locks it holds, by the session's application_name.
func (r *Runner) holdings(ctx context.Context) (map[string]int, error) {
	rows, err := r.pool.Query(ctx, `SELECT a.application_name, count(l.pid)
		FROM pg_stat_activity a
		LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
		WHERE a.datname = current_database() AND a.application_name LIKE $1
		GROUP BY a.application_name`, sessionPrefix+"%")
	if err != nil {
		return nil, fmt.Errorf("projection: count the replicas' locks: %w", err)
	}
	out := map[string]int{}
	var name string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[name] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projection: count the replicas' locks: %w", err)
	}
	return out, nil
}

// shares returns this process's fair share of the projections, as a floor
// and a ceiling (the projections divided by the replicas, rounded down and
// up), and whether some other replica holds fewer than the floor.
func (r *Runner) shares(ctx context.Context) (floor, ceiling int, starved bool, err error) {
	h, err := r.holdings(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	n := max(len(h), 1)
	p := len(r.cfg.Projections)
	floor, ceiling = p/n, (p+n-1)/n
	for name, held := range h {
		if name != r.sessionName() && held < floor {
			starved = true
		}
	}
	return floor, ceiling, starved, nil
}

// mayTake reports whether this process should try to take another
// projection's lock: always unless Config.Spread is set, else while it holds
// fewer than its share: below the floor always, up to the ceiling unless
// another replica is below the floor (it leaves the free lock to that one).
func (r *Runner) mayTake(ctx context.Context) bool {
	if !r.cfg.Spread {
		return true
	}
	floor, ceiling, starved, err := r.shares(ctx)
	if err != nil {
		return true // a replica that cannot count takes what is free
	}
	held := r.held.count()
	return held < floor || (held < ceiling && !starved)
}

// shouldRelease reports whether this process holds more than its share and
// may give one projection up now: more than the ceiling, or more than the
// floor while another replica holds fewer than the floor. It gives up at
// most one every releaseEvery, so that the other replicas take each before
// it gives up the next.
func (r *Runner) shouldRelease(ctx context.Context) bool {
	if !r.cfg.Spread {
		return false
	}
	last := r.held.lastRelease.Load()
	if time.Since(time.Unix(0, last)) < r.releaseEvery() {
		return false
	}
	floor, ceiling, starved, err := r.shares(ctx)
	held := r.held.count()
	if err != nil || held <= floor || (held <= ceiling && !starved) {
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
