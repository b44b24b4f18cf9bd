package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/relay"
)

// emptyDatabase creates a database without riskreg's schema (a broker's or
// a consumer's), dropped when the test ends, and returns its URL.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	return pgtest.NewEmptyDatabase(t)
}

// process is a riskreg subcommand running in the background.
type process struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	lines  chan string // stdout, line by line
	done   chan error
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: command(t, args...), lines: make(chan string, 1000), done: make(chan error, 1)}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
	}()
	return p
}

// stop sends SIGTERM and expects exit status 0.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.lines { // drain
		}
	}()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("riskreg %v exited with %v after SIGTERM:\n%s", p.cmd.Args[1:], err, p.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("riskreg %v did not exit within a minute of SIGTERM", p.cmd.Args[1:])
	}
}

// envelopes reads n envelopes from a consume process's output.
func (p *process) envelopes(t *testing.T, n int) []relay.Envelope {
	t.Helper()
	var out []relay.Envelope
	timeout := time.After(time.Minute)
	for len(out) < n {
		select {
		case line, ok := <-p.lines:
			if !ok {
				err := <-p.done
				t.Fatalf("consume exited (%v) after %d of %d events:\n%s", err, len(out), n, p.stderr.String())
			}
			var e relay.Envelope
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("consume printed %q: %v", line, err)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("consume printed %d of %d events; its log:\n%s", len(out), n, p.stderr.String())
		}
	}
	return out
}

// TestRelayServeAndConsume relays one log to two topics of a broker
// database, one from "riskreg relay" and one from "riskreg serve --publish",
// and reads both back with "riskreg consume".
func TestRelayServeAndConsume(t *testing.T) {
	t.Parallel()
	db, broker := pgtest.NewDatabase(t), emptyDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var ids []string
	for i := range 3 {
		res, err := store.Append(ctx, eventstore.StreamAppend{StreamID: fmt.Sprintf("risk-%d", i), StreamType: "risk",
			Expected: eventstore.NoStream, Events: []eventstore.Event{
				{Type: "RiskRegistered", Data: json.RawMessage(`{"title": "t"}`), Metadata: eventstore.Metadata{Actor: "alice"}},
				{Type: "RiskUpdated", Data: json.RawMessage(`{"title": "u"}`), Metadata: eventstore.Metadata{Actor: "alice"}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			ids = append(ids, e.ID.String())
		}
	}

	viaRelay, viaServe := withTopic(t, broker, "relay.events"), withTopic(t, broker, "serve.events")
	rel := startProcess(t, "relay", "--database-url", db, "--publish", viaRelay, "--source-id", "register-a")
	srv := startServe(t, "--addr", "127.0.0.1:0", "--database-url", db, "--publish", viaServe)
	for i, from := range []string{viaRelay, viaServe} {
		// One group per topic: a group that handled an event from one
		// topic drops it when it comes again from another.
		c := startProcess(t, "consume", "--from", from, "--dedup-database", broker, "--group", fmt.Sprintf("cmd-test-%d", i))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("relay's log:\n%s\nserve's log:\n%s", rel.stderr.String(), srv.logs)
			}
		})
		got := c.envelopes(t, len(ids))
		// The envelope names the publishing instance: --source-id, by
		// default riskreg@ and the host name.
		source := "register-a"
		if from == viaServe {
			source = defaultSourceID()
		}
		for i, e := range got {
			if e.ID != ids[i] || e.Actor != "alice" || e.StreamType != "risk" || e.Source != source {
				t.Errorf("%s: event %d = %+v, want id %s from %s", from, i, e, ids[i], source)
			}
		}
		c.stop(t)
	}
	// serve's /metrics shows its relay's lag and what it published.
	resp, err := http.Get("http://" + srv.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"riskreg_relay_lag_events", "riskreg_relay_published_total"} {
		if !strings.Contains(string(metrics), name) {
			t.Errorf("serve's /metrics has no %s", name)
		}
	}
	rel.stop(t)
	srv.terminate(t)
	if strings.Contains(rel.stderr.String(), "password") {
		t.Errorf("relay logged a password:\n%s", rel.stderr.String())
	}
}

// withTopic returns a postgres:// broker URL with a topic parameter.
func withTopic(t *testing.T, broker, topic string) string {
	t.Helper()
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("topic", topic)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestRelayUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"relay"},
		{"relay", "--publish", "nats://127.0.0.1:4222", "extra"},
		{"consume"},
		{"consume", "--from", "nats://127.0.0.1:4222", "--format", "xml"},
	} {
		if _, stderr, code := riskreg(t, args...); code != 2 || !strings.Contains(stderr, "Usage: riskreg") {
			t.Errorf("riskreg %v exited %d, want 2 with usage:\n%s", args, code, stderr)
		}
	}
	_, stderr, code := riskreg(t, "relay", "--database-url", "postgres://127.0.0.1:1/x", "--publish", "kafka://bob:s3cret@host:9092")
	if code != 2 || strings.Contains(stderr, "s3cret") || !strings.Contains(stderr, "kafka") {
		t.Errorf("relay with a bad URL exited %d:\n%s", code, stderr)
	}
}
