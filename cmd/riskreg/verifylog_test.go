package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/transparency"
)

// seededLog is a database whose log of 10 events (three streams, their
// appends interleaved) was integrated and signed, and the checkpoint an
// auditor kept of it.
type seededLog struct {
	url, checkpoint, pub string
	pool                 *pgxpool.Pool
	store                *eventstore.Store
}

// seedLog builds a seededLog. The global order of its leaves is
// a1 a2 b1 c1 c2 a3 b2 b3 c3 a4 (leaf 0 to 9).
func seedLog(t *testing.T, key *transparency.SigningKey, dir string) *seededLog {
	t.Helper()
	ctx := context.Background()
	s := &seededLog{url: pgtest.NewDatabase(t)}
	s.pool, s.store = openStore(t, s.url)
	for _, a := range []struct {
		stream string
		n      int
	}{{"risk-a", 2}, {"risk-b", 1}, {"risk-c", 2}, {"risk-a", 1}, {"risk-b", 2}, {"risk-c", 1}, {"risk-a", 1}} {
		appendEvents(t, s.store, a.stream, a.n, `{"title": "t"}`)
	}
	integrateAndSign(t, s.store, key, 10)
	cp, err := transparency.NewLog(s.store).LatestCheckpoint(ctx)
	if err != nil || cp == nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	s.checkpoint = filepath.Join(dir, "held.checkpoint")
	s.pub = filepath.Join(dir, "riskreg.pub")
	if err := os.WriteFile(s.checkpoint, cp.Note, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.pub, []byte(key.Verifier()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// openStore opens a pool and a store (no upcasters) on the database at url
// for the rest of the test.
func openStore(t *testing.T, url string) (*pgxpool.Pool, *eventstore.Store) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return pool, store
}

func appendEvents(t *testing.T, store *eventstore.Store, stream string, n int, data string) {
	t.Helper()
	events := make([]eventstore.Event, n)
	for i := range events {
		events[i] = eventstore.Event{Type: "RiskUpdated", Data: json.RawMessage(data)}
	}
	if _, err := store.Append(context.Background(), eventstore.StreamAppend{StreamID: stream, StreamType: "risk", Expected: eventstore.Any, Events: events}); err != nil {
		t.Fatal(err)
	}
}

// integrateAndSign runs the integrator until the tree has size leaves and
// signs a checkpoint of it.
func integrateAndSign(t *testing.T, store *eventstore.Store, key *transparency.SigningKey, size uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := transparency.IntegrateTo(ctx, store, size, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := transparency.SignLatest(ctx, store.Pool(), key, ""); err != nil {
		t.Fatal(err)
	}
}

func testKey(t *testing.T) *transparency.SigningKey {
	t.Helper()
	skey, _, err := transparency.GenerateKey("riskreg.test/log")
	if err != nil {
		t.Fatal(err)
	}
	key, err := transparency.ParseSigningKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// asSuperuser runs statements in one transaction with triggers off, as a
// hostile superuser would.
func asSuperuser(t *testing.T, pool *pgxpool.Pool, statements ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		for _, s := range statements {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyTamperMatrix edits a signed log as a database superuser would,
// each edit on a log of its own, and checks that verify against the
// checkpoint an auditor kept fails and names the place.
func TestVerifyTamperMatrix(t *testing.T) {
	key := testKey(t)
	headBack := `UPDATE streams SET version = version - 1,
		last_hash = (SELECT hash FROM events e WHERE e.stream_id = streams.stream_id AND e.version = streams.version - 1)
		WHERE stream_id = 'risk-b'`
	cases := []struct {
		name  string
		sql   []string
		edit  func(t *testing.T, s *seededLog)
		wants []string // each must be in the output; none: verify must pass
	}{
		{name: "no-op edit", sql: []string{`UPDATE events SET data = data, recorded_at = recorded_at`}},
		{name: "last event of a stream deleted, head moved back",
			sql:   []string{`DELETE FROM events WHERE stream_id = 'risk-b' AND version = 3`, headBack},
			wants: []string{"leaf 7 (stream risk-c version 3)", "covers 10 leaves but the log has only 9 events"}},
		{name: "whole stream deleted with its head",
			sql:   []string{`DELETE FROM events WHERE stream_id = 'risk-c'`, `DELETE FROM streams WHERE stream_id = 'risk-c'`},
			wants: []string{"leaf 3 (stream risk-a version 3)", "events were removed"}},
		{name: "truncated", sql: []string{`TRUNCATE events`, `DELETE FROM streams`},
			wants: []string{"leaf 0: ", "covers 10 leaves but the log has only 0 events"}},
		{name: "recorded_at changed",
			sql:   []string{`UPDATE events SET recorded_at = recorded_at - interval '1 day' WHERE stream_id = 'risk-a' AND version = 3`},
			wants: []string{"leaf 5 (stream risk-a version 3)"}},
		{name: "moved in the global order",
			sql: []string{`UPDATE events SET tx_id = (SELECT tx_id FROM events WHERE stream_id = 'risk-a' AND version = 1)
				WHERE stream_id = 'risk-a' AND version = 3`},
			wants: []string{"leaf 2 (stream risk-a version 3)"}},
		{name: "stream rewritten through the event store",
			sql: []string{`DELETE FROM events WHERE stream_id = 'risk-b'`, `DELETE FROM streams WHERE stream_id = 'risk-b'`},
			edit: func(t *testing.T, s *seededLog) {
				appendEvents(t, s.store, "risk-b", 3, `{"title": "rewritten"}`)
			},
			wants: []string{"leaf 2 (stream risk-c version 1)"}},
		{name: "data changed", sql: []string{`UPDATE events SET data = '{"title": "forged"}' WHERE stream_id = 'risk-c' AND version = 2`},
			wants: []string{"stream risk-c version 2: the content does not match"}},
		{name: "type changed", sql: []string{`UPDATE events SET type = 'RiskClosed' WHERE stream_id = 'risk-a' AND version = 2`},
			wants: []string{"stream risk-a version 2: the content does not match"}},
		{name: "metadata changed", sql: []string{`UPDATE events SET actor = 'mallory' WHERE stream_id = 'risk-b' AND version = 1`},
			wants: []string{"stream risk-b version 1: the content does not match"}},
		{name: "middle event deleted", sql: []string{`DELETE FROM events WHERE stream_id = 'risk-a' AND version = 2`},
			wants: []string{"stream risk-a version 3: version 2 is missing", "leaf 1 (stream risk-b version 1)"}},
		{name: "versions swapped", sql: []string{
			`UPDATE events SET version = 1000 WHERE stream_id = 'risk-b' AND version = 2`,
			`UPDATE events SET version = 2 WHERE stream_id = 'risk-b' AND version = 3`,
			`UPDATE events SET version = 3 WHERE stream_id = 'risk-b' AND version = 1000`},
			wants: []string{"leaf 6 (stream risk-b version 3)", "stream risk-b version 2: the content does not match"}},
		{name: "rows forged at the end", sql: []string{
			`INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, occurred_at, prev_hash, hash)
			 SELECT gen_random_uuid(), 'risk-a', 'risk', 5, 'RiskClosed', 1, '{}', now(), hash, sha256(hash) FROM events WHERE stream_id = 'risk-a' AND version = 4`,
			`UPDATE streams SET version = 5, last_hash = (SELECT hash FROM events WHERE stream_id = 'risk-a' AND version = 5) WHERE stream_id = 'risk-a'`},
			wants: []string{"stream risk-a version 5: the content does not match"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seedLog(t, key, t.TempDir())
			asSuperuser(t, s.pool, tc.sql...)
			if tc.edit != nil {
				tc.edit(t, s)
			}
			stdout, stderr, code := riskreg(t, "verify", "--database-url", s.url, "--checkpoint", s.checkpoint, "--verifier-key", s.pub)
			if len(tc.wants) == 0 {
				if code != 0 {
					t.Fatalf("verify exited %d after a no-op edit:\n%s%s", code, stdout, stderr)
				}
				return
			}
			if code != 1 {
				t.Errorf("verify exited %d, want 1:\n%s%s", code, stdout, stderr)
			}
			for _, w := range tc.wants {
				if !strings.Contains(stdout, w) {
					t.Errorf("verify printed no %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestVerifyStoredCheckpoints checks that verify without --checkpoint checks
// the checkpoints riskreg stored and reports the latest.
func TestVerifyStoredCheckpoints(t *testing.T) {
	key := testKey(t)
	s := seedLog(t, key, t.TempDir())
	out := mustRiskreg(t, "verify", "--database-url", s.url)
	if !strings.Contains(out, "intact: 10 events checked") || !strings.Contains(out, "latest signed checkpoint: size 10") {
		t.Errorf("verify printed:\n%s", out)
	}
	// A forged checkpoint row (signed by another key) is caught.
	other := testKey(t)
	cp, err := other.Sign(9, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	asSuperuser(t, s.pool, `INSERT INTO log_checkpoints (origin, size, root, note, verifier) VALUES ('riskreg.test/log', 9, '\x`+
		strings.Repeat("00", 32)+`', '`+string(cp.Note)+`', '`+key.Verifier()+`')`)
	stdout, _, code := riskreg(t, "verify", "--database-url", s.url)
	if code != 1 || !strings.Contains(stdout, "stored checkpoint") {
		t.Errorf("verify with a forged stored checkpoint exited %d:\n%s", code, stdout)
	}
}

// TestAuditBundle exports a bundle, verifies it offline, and checks that a
// flipped byte makes audit verify exit 1.
func TestAuditBundle(t *testing.T) {
	dir := t.TempDir()
	s := seedLog(t, testKey(t), dir)
	bundle := filepath.Join(dir, "bundle.jsonl")
	if out := mustRiskreg(t, "audit", "export", "--out", bundle, "--since-checkpoint", s.checkpoint, "--database-url", s.url); !strings.Contains(out, "exported 10 events") {
		t.Errorf("audit export printed:\n%s", out)
	}
	if out := mustRiskreg(t, "audit", "verify", bundle, "--verifier-key", s.pub, "--checkpoint", s.checkpoint); !strings.Contains(out, "intact: 10 events") {
		t.Errorf("audit verify printed:\n%s", out)
	}
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, _, code := riskreg(t, "audit", "verify", bundle, "--verifier-key", s.pub); code != 1 {
		t.Errorf("audit verify of a changed bundle exited %d:\n%s", code, stdout)
	}
}

// TestWitnessOnce runs "riskreg witness --once" against a log, then against
// another history signed with the same key: the witness exits 1.
func TestWitnessOnce(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	a := seedLog(t, key, dir)
	b := seedLog(t, key, t.TempDir())
	appendEvents(t, b.store, "risk-d", 2, `{"title": "t"}`)
	integrateAndSign(t, b.store, key, 12)
	quiet := slog.New(slog.DiscardHandler)
	srvA := httptest.NewServer(transparency.Handler(transparency.NewLog(a.store), nil, quiet))
	defer srvA.Close()
	srvB := httptest.NewServer(transparency.Handler(transparency.NewLog(b.store), nil, quiet))
	defer srvB.Close()
	state := filepath.Join(dir, "witness")
	mustRiskreg(t, "witness", "--once", "--log", srvA.URL, "--verifier-key", a.pub, "--state", state)
	if _, stderr, code := riskreg(t, "witness", "--once", "--log", srvB.URL, "--verifier-key", a.pub, "--state", state); code != 1 ||
		!strings.Contains(stderr, "not consistent") {
		t.Errorf("witness --once of a rewritten log exited %d:\n%s", code, stderr)
	}
}
