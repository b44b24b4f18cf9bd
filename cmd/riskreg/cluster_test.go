package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// The multi-replica harness: several "riskreg serve" processes (the binary
// TestMain built) on one test database, each on a port of its own that it
// keeps across restarts, relaying to a private NATS server in this process,
// and a client that spreads requests over the replicas the way a load
// balancer would: only to replicas it believes up, retrying a request whose
// connection was refused or broken (every mutation carries an idempotency
// key, so a retry is safe).

// cluster is a set of serve replicas on one database.
type cluster struct {
	t        *testing.T
	db       string
	natsAddr string
	stream   string
	token    string
	args     []string
	replicas []*replica
	client   *http.Client
}

// replica is one serve process slot; srv is nil while it is stopped.
type replica struct {
	name string
	addr string // 127.0.0.1:port, kept across restarts
	mu   sync.Mutex
	srv  *proc
	up   atomic.Bool // the client sends it requests
}

// proc is one serve process of a replica.
type proc struct {
	cmd  *exec.Cmd
	done chan error
	logs *lockedBuffer
}

func (r *replica) current() *proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv
}

// startNATS starts a private NATS server with JetStream in this process.
func startNATS(t *testing.T) string {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the in-process NATS server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.Addr().String()
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newCluster starts n replicas on db at the same moment, relaying to a
// private NATS server; extra are further serve flags.
func newCluster(t *testing.T, db string, n int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, db: db, natsAddr: startNATS(t), stream: "RISKREG_CLUSTER",
		client: &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(c.client.CloseIdleConnections)
	c.args = append([]string{"--database-url", db, "--drain", "1s",
		"--publish", fmt.Sprintf("nats://%s?stream=%s", c.natsAddr, c.stream)}, extra...)
	for i := range n {
		c.replicas = append(c.replicas, &replica{name: fmt.Sprintf("r%d", i), addr: freePort(t)})
	}
	var wg sync.WaitGroup
	for _, r := range c.replicas {
		wg.Go(func() { c.start(r) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range c.replicas {
				if s := r.current(); s != nil {
					t.Logf("%s's log:\n%s", r.name, tail(s.logs.String(), 4000))
				}
			}
		}
	})
	c.token = strings.TrimSpace(mustRiskreg(t, "token", "create", "--subject", "sam", "--role", "staff", "--database-url", db))
	return c
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// start starts r's process and waits until /readyz answers 200.
func (c *cluster) start(r *replica) {
	c.t.Helper()
	s := startProc(c.t, append([]string{"--addr", r.addr}, c.args...)...)
	if s == nil {
		return
	}
	r.mu.Lock()
	r.srv = s
	r.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _, err := c.get(r.addr, "/readyz"); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			c.t.Errorf("%s not ready within a minute", r.name)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.up.Store(true)
}

// startProc starts "riskreg serve args..." and waits until it listens.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := command(t, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Error(err)
		return nil
	}
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return nil
	}
	p := &proc{cmd: cmd, done: make(chan error, 1), logs: &lockedBuffer{}}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		if t.Failed() { // every process's errors, also of those restarted since
			var errs []string
			for line := range strings.Lines(p.logs.String()) {
				if strings.Contains(line, `"level":"ERROR"`) {
					errs = append(errs, line)
				}
			}
			t.Logf("serve pid %d logged %d errors:\n%s", cmd.Process.Pid, len(errs), tail(strings.Join(errs, ""), 3000))
		}
	})
	listening := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct{ Msg string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				listening <- struct{}{}
			}
			if line.Msg != "request" { // one line per request is too much to keep
				p.logs.write(sc.Bytes())
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case <-listening:
		return p
	case err := <-p.done:
		t.Errorf("serve exited before listening (%v):\n%s", err, p.logs.String())
	case <-time.After(2 * time.Minute):
		t.Errorf("serve did not listen within 2 minutes")
	}
	return nil
}

// lockedBuffer collects a process's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) write(line []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(line)
	b.buf.WriteByte('\n')
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// signal sends sig to r's process.
func (c *cluster) signal(r *replica, sig syscall.Signal) {
	c.t.Helper()
	if err := r.current().cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %s: %v", r.name, err)
	}
}

// kill SIGKILLs r and waits for it to exit.
func (c *cluster) kill(r *replica) {
	c.t.Helper()
	r.up.Store(false)
	c.signal(r, syscall.SIGKILL)
	<-r.current().done
	r.mu.Lock()
	r.srv = nil
	r.mu.Unlock()
}

// restart stops r with SIGTERM (it drains first) and starts it again on the
// same address. The client keeps sending it requests while it drains, as a
// load balancer would until /readyz fails, and retries those refused while
// it is down.
func (c *cluster) restart(r *replica) {
	c.t.Helper()
	s := r.current()
	c.signal(r, syscall.SIGTERM)
	// /readyz fails while it drains.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body, err := c.get(r.addr, "/readyz")
		if err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "draining") {
			break
		}
		if time.Now().After(deadline) {
			c.t.Errorf("%s: /readyz did not report draining after SIGTERM (last: %d %q %v)", r.name, code, body, err)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.up.Store(false)
	select {
	case err := <-s.done:
		if err != nil {
			c.t.Errorf("%s exited with %v after SIGTERM:\n%s", r.name, err, tail(s.logs.String(), 3000))
		}
	case <-time.After(time.Minute):
		c.t.Fatalf("%s did not exit within a minute of SIGTERM", r.name)
	}
	c.start(r)
}

// get sends GET path to addr.
func (c *cluster) get(addr, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// answer is a GraphQL answer as the cluster's client sees it.
type answer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Extensions map[string]any `json:"extensions"`
	header     http.Header
	replica    string
	latency    time.Duration
}

// code is the code of the first error, or "".
func (a answer) code() string {
	if len(a.Errors) == 0 {
		return ""
	}
	s, _ := a.Errors[0].Extensions["code"].(string)
	return s
}

// post sends one GraphQL request to r, without retrying.
func (c *cluster) post(ctx context.Context, r *replica, query string, variables map[string]any, header ...string) (answer, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		return answer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.addr+"/graphql", bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{header: resp.Header, replica: r.name, latency: time.Since(start)}
	if err := json.Unmarshal(b, &a); err != nil {
		return answer{}, fmt.Errorf("%s answered %d %q: %w", r.name, resp.StatusCode, b, err)
	}
	return a, nil
}

// errNoReplica: every replica is down.
var errNoReplica = errors.New("no replica is up")

// requestTimeout bounds one attempt of a request: a replica that does not
// answer by then (it is stopped) is given up on, and the request is sent to
// the next one.
const requestTimeout = 8 * time.Second

// call sends a request to replica pick (or the next one up after it) and
// retries transport errors (refused, reset, timed out) on the next replica
// up, for up to 40 s, as a client behind a load balancer would.
func (c *cluster) call(ctx context.Context, pick int, query string, variables map[string]any, header ...string) (answer, error) {
	deadline := time.Now().Add(40 * time.Second)
	var last error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		r := c.upFrom(pick + attempt)
		if r == nil {
			last = errNoReplica
		} else {
			a, err := c.post(ctx, r, query, variables, header...)
			if err == nil {
				return a, nil
			}
			last = err
		}
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return answer{}, fmt.Errorf("gave up after 40 s: %w", last)
}

// upFrom returns the first replica up from index i on, round the ring.
func (c *cluster) upFrom(i int) *replica {
	for k := range len(c.replicas) {
		r := c.replicas[(i+k)%len(c.replicas)]
		if r.up.Load() {
			return r
		}
	}
	return nil
}

// metric matches one sample of a labelled gauge in /metrics.
var metric = regexp.MustCompile(`(?m)^(riskreg_projection_held|riskreg_relay_active)\{[^}]*?(?:projection|relay)="([^"]+)"[^}]*\} (\S+)$`)

// holdings returns, for each replica up, what it holds: "projection/NAME"
// and "relay/NAME".
func (c *cluster) holdings() map[string][]string {
	out := make(map[string][]string)
	for _, r := range c.replicas {
		if !r.up.Load() {
			continue
		}
		code, body, err := c.get(r.addr, "/metrics")
		if err != nil || code != http.StatusOK {
			continue
		}
		for _, m := range metric.FindAllStringSubmatch(body, -1) {
			if m[3] == "1" {
				kind := strings.TrimPrefix(strings.TrimSuffix(m[1], "_held"), "riskreg_")
				kind = strings.TrimSuffix(kind, "_active")
				out[r.name] = append(out[r.name], kind+"/"+m[2])
			}
		}
		slices.Sort(out[r.name])
	}
	return out
}

// waitHeld waits until the replicas up hold every projection and the relay,
// each once, and returns how long that took and who holds what.
func (c *cluster) waitHeld(timeout time.Duration) (time.Duration, map[string][]string) {
	c.t.Helper()
	start := time.Now()
	var h map[string][]string
	for time.Since(start) < timeout {
		h = c.holdings()
		seen := map[string]int{}
		for _, held := range h {
			for _, x := range held {
				seen[x]++
			}
		}
		all := len(h) > 0 && countRelays(seen) == 1 && len(seen) == len(projection.Builtin())+1
		for _, p := range projection.Builtin() {
			all = all && seen["projection/"+p.Name()] == 1
		}
		if all {
			return time.Since(start), h
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("the replicas up did not hold every projection and the relay within %s: %v", timeout, h)
	return 0, nil
}

func countRelays(seen map[string]int) int {
	n := 0
	for k, v := range seen {
		if strings.HasPrefix(k, "relay/") {
			n += v
		}
	}
	return n
}

// holderOf returns the replica that holds x ("relay/..." prefix or
// "projection/NAME").
func (c *cluster) holderOf(h map[string][]string, prefix string) *replica {
	for _, r := range c.replicas {
		for _, x := range h[r.name] {
			if strings.HasPrefix(x, prefix) {
				return r
			}
		}
	}
	return nil
}

// register registers a risk with idempotency key key through replica pick
// and returns its id and the consistency token.
func (c *cluster) register(ctx context.Context, pick int, title, key string) (id, token string, a answer, err error) {
	a, err = c.call(ctx, pick, `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id reference } }`,
		map[string]any{"in": map[string]any{"title": title, "description": "cause -> event -> consequence",
			"category": "Operational", "source": "Audit Plan 2021", "owner": "Director", "idempotencyKey": key}})
	if err != nil || len(a.Errors) > 0 {
		return "", "", a, err
	}
	var out struct {
		RegisterRisk struct{ ID, Reference string }
	}
	if err := json.Unmarshal(a.Data, &out); err != nil {
		return "", "", a, err
	}
	return out.RegisterRisk.ID, a.header.Get("X-Riskreg-Consistency-Token"), a, nil
}

// load is a write load on the cluster: writers registering risks through
// every replica up, and a reader per replica listing risks.
type load struct {
	c        *cluster
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	ops      atomic.Int64
	mu       sync.Mutex
	failures []string
	reads    []sample
	acked    map[string]time.Time // risk id -> when its registration was answered
	seen     map[string]time.Time // risk id -> when a subscriber of the log got it
}

// sample is one list query's latency.
type sample struct {
	at      time.Time
	replica string
	latency time.Duration
}

// startLoad starts writers writing goroutines and the readers.
func (c *cluster) startLoad(writers int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{c: c, cancel: cancel, acked: make(map[string]time.Time), seen: make(map[string]time.Time)}
	l.wg.Go(func() { l.subscribe(ctx) })
	for w := range writers {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("load-%d-%d", w, i)
				id, _, a, err := c.register(ctx, w+i, "load "+key, key)
				if err == nil && len(a.Errors) == 0 {
					l.mu.Lock()
					l.acked[id] = time.Now()
					l.mu.Unlock()
				}
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					l.fail(fmt.Sprintf("%s: %v", key, err))
				case len(a.Errors) > 0:
					l.fail(fmt.Sprintf("%s on %s: %s %s", key, a.replica, a.code(), a.Errors[0].Message))
				default:
					l.ops.Add(1)
				}
			}
		})
	}
	// One reader per replica, so that a stopped replica holds up only its
	// own reader.
	for i, r := range c.replicas {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				if !r.up.Load() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				a, err := c.call(ctx, i, `{ risks(first: 10, filter: {search: "load"}) { totalCount } }`, nil)
				if ctx.Err() != nil {
					return
				}
				if err != nil || len(a.Errors) > 0 {
					l.fail(fmt.Sprintf("list: %v %v", err, a.Errors))
					continue
				}
				l.mu.Lock()
				l.reads = append(l.reads, sample{at: time.Now(), replica: a.replica, latency: a.latency})
				l.mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	return l
}

// subscribe follows the log as a replica's subscriptions do (a store of
// its own on the database, woken by the replicas' NOTIFY), and notes when
// each risk arrives.
func (l *load) subscribe(ctx context.Context) {
	pool, err := pgxpool.New(ctx, l.c.db)
	if err != nil {
		l.fail(fmt.Sprintf("subscribe: %v", err))
		return
	}
	defer pool.Close()
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		l.fail(fmt.Sprintf("subscribe: %v", err))
		return
	}
	defer store.Close()
	after, err := store.ReadAll(ctx, eventstore.Position{}, 1<<30, eventstore.Filter{})
	if err != nil {
		l.fail(fmt.Sprintf("subscribe: %v", err))
		return
	}
	var from eventstore.Position
	if len(after) > 0 {
		from = after[len(after)-1].Position
	}
	err = store.Subscribe(ctx, from, eventstore.Filter{}, func(_ context.Context, events []eventstore.RecordedEvent) error {
		now := time.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, e := range events {
			l.seen[e.StreamID] = now
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		l.fail(fmt.Sprintf("subscribe: %v", err))
	}
}

// subscriptionP99 returns the 99th percentile of the time from a write's
// answer to its arrival at the log's subscriber, over the writes answered in
// [from, to), and how many there were.
func (l *load) subscriptionP99(from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	var ds []time.Duration
	for id, at := range l.acked {
		if at.Before(from) || !at.Before(to) {
			continue
		}
		seen, ok := l.seen[id]
		if !ok {
			seen = time.Now() // not arrived yet: at least this late
		}
		ds = append(ds, max(seen.Sub(at), 0))
	}
	l.mu.Unlock()
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*99/100)], len(ds)
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
}

// stop stops the load and returns its failures.
func (l *load) stop() []string {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

// failed returns the failures so far.
func (l *load) failed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failures)
}

// p99 returns the 99th percentile of the list queries' latency answered in
// [from, to) by replicas other than skip, and how many there were.
func (l *load) p99(from, to time.Time, skip string) (time.Duration, int) {
	l.mu.Lock()
	var ds []time.Duration
	for _, s := range l.reads {
		if !s.at.Before(from) && s.at.Before(to) && s.replica != skip {
			ds = append(ds, s.latency)
		}
	}
	l.mu.Unlock()
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*99/100)], len(ds)
}

// streamIDs returns the Nats-Msg-Id (the event id) of every message in the
// cluster's stream, in stream order.
func (c *cluster) streamIDs(ctx context.Context) ([]string, error) {
	nc, err := nats.Connect("nats://" + c.natsAddr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, c.stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", seq, err)
		}
		ids = append(ids, m.Header.Get(nats.MsgIdHdr))
	}
	return ids, nil
}

// envFlag reads a duration from the environment, for the long variants of
// the cluster tests.
func envFlag(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}
