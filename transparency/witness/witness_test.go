package witness_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/transparency"
	"github.com/riskreg/riskreg/transparency/witness"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

func appendN(t *testing.T, store *eventstore.Store, stream string, n int) {
	t.Helper()
	events := make([]eventstore.Event, n)
	for i := range events {
		events[i] = eventstore.Event{Type: "RiskUpdated", Data: json.RawMessage(`{"n": 1}`)}
	}
	if _, err := store.Append(context.Background(), eventstore.StreamAppend{StreamID: stream, StreamType: "risk", Expected: eventstore.Any, Events: events}); err != nil {
		t.Fatal(err)
	}
}

// integrateAndSign grows the tree to size leaves and signs it.
func integrateAndSign(t *testing.T, store *eventstore.Store, key *transparency.SigningKey, size uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := transparency.IntegrateTo(ctx, store, size, quiet); err != nil {
		t.Fatal(err)
	}
	if _, signed, err := transparency.SignLatest(ctx, store.Pool(), key, ""); err != nil || !signed {
		t.Fatalf("sign: %v %v", signed, err)
	}
}

func key(t *testing.T, name string) *transparency.SigningKey {
	t.Helper()
	skey, _, err := transparency.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := transparency.ParseSigningKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestWitnessCatchesRewrittenLog follows a log, then rewrites the log's
// history (events and tree, re-signed by the log's own key) and checks that
// the witness, which saw the earlier checkpoint, refuses the new one.
func TestWitnessCatchesRewrittenLog(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logKey, witnessKey := key(t, "riskreg.test/log"), key(t, "witness.test")
	srv := httptest.NewServer(transparency.Handler(transparency.NewLog(store), nil, quiet))
	defer srv.Close()
	logVerifier, err := note.NewVerifier(logKey.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	w, err := witness.New(witness.Config{LogURL: srv.URL, Verifier: logVerifier, StateDir: state, Key: witnessKey, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err == nil {
		t.Error("a poll of a log with no checkpoint succeeded")
	}
	for i := range 5 {
		appendN(t, store, fmt.Sprintf("risk-%d", i%2), 2)
	}
	integrateAndSign(t, store, logKey, 10)
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	appendN(t, store, "risk-9", 5)
	integrateAndSign(t, store, logKey, 15)
	if err := w.Poll(ctx); err != nil || w.Current().Size != 15 {
		t.Fatalf("poll after growth: %v", err)
	}
	// The cosigned checkpoint carries both signatures.
	resp, err := http.Get(httptestURL(t, w) + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cosigned, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	coVerifier, err := transparency.NewCosignatureVerifier(witnessKey.CosignatureVerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cosigned, note.VerifierList(logVerifier, coVerifier))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("cosigned checkpoint: %v %+v", err, n)
	}

	// A witness restarted from its state still holds the log to size 15.
	w, err = witness.New(witness.Config{LogURL: srv.URL, Verifier: logVerifier, StateDir: state, Key: witnessKey, Logger: quiet})
	if err != nil || w.Current() == nil || w.Current().Size != 15 {
		t.Fatalf("restarted witness: %v", err)
	}

	// The operator rewrites history: removes risk-0's events, rebuilds the
	// tree from the changed log, and signs it with the log's own key.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range []string{
			"SET LOCAL session_replication_role = replica",
			"DELETE FROM events WHERE stream_id = 'risk-0'",
			"DELETE FROM streams WHERE stream_id = 'risk-0'",
			"DELETE FROM log_tiles",
			"UPDATE log_tree SET size = 0, root = sha256(''::bytea)",
			"DELETE FROM checkpoints WHERE name = 'transparency:log'",
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, store, "risk-8", 10)
	integrateAndSign(t, store, logKey, 19)
	err = w.Poll(ctx)
	if !errors.Is(err, witness.ErrInconsistent) {
		t.Fatalf("poll of the rewritten log: %v, want ErrInconsistent", err)
	}
	if w.Current().Size != 15 {
		t.Errorf("the witness moved to %d leaves", w.Current().Size)
	}
	resp, err = http.Get(httptestURL(t, w) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "riskreg_witness_inconsistent 1") {
		t.Errorf("metrics:\n%s", metrics)
	}
	entries, _ := os.ReadDir(state)
	found := false
	for _, e := range entries {
		found = found || strings.HasPrefix(e.Name(), "inconsistent-")
	}
	if !found {
		t.Error("no evidence of the inconsistency kept")
	}
}

func httptestURL(t *testing.T, w *witness.Witness) string {
	t.Helper()
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
