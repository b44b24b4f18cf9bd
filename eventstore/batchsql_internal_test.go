package eventstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/riskreg/riskreg/internal/pgtest"
)

// An optimistic batch sends no BEGIN or COMMIT: its statements run in the
// implicit transaction of the pipeline. When a later statement fails (here
// the head of a stream that has a head row but no events, which only a
// hand-made row can cause), the events inserted before it are gone too.
func TestInsertBatchIsAllOrNothingWithoutBegin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `INSERT INTO streams (stream_id, stream_type, version, last_hash) VALUES ('taken', 'risk', 0, '\x00')`); err != nil {
		t.Fatal(err)
	}
	recs := []*RecordedEvent{
		{ID: uuid.New(), StreamID: "fresh", StreamType: "risk", Version: 1, Type: "RiskRegistered", SchemaVersion: 1,
			Data: []byte(`{}`), Metadata: Metadata{Extra: []byte(`{}`)}, OccurredAt: time.Now(), PrevHash: genesisHash, Hash: genesisHash},
		{ID: uuid.New(), StreamID: "taken", StreamType: "risk", Version: 1, Type: "RiskRegistered", SchemaVersion: 1,
			Data: []byte(`{}`), Metadata: Metadata{Extra: []byte(`{}`)}, OccurredAt: time.Now(), PrevHash: genesisHash, Hash: genesisHash},
	}
	heads := map[string]*streamHead{
		"fresh": {streamType: "risk", version: 1, hash: genesisHash},
		"taken": {streamType: "risk", version: 1, hash: genesisHash},
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = insertBatch(ctx, conn, recs, heads, nil, false)
	conn.Release()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UniqueViolation || pgErr.TableName != "streams" {
		// Any other error could have come from the events' insert itself.
		t.Fatalf("insertBatch: %v, want the streams' unique key to refuse the head", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d events stayed after the batch failed, want 0", n)
	}
	var busy bool
	if err := pool.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if busy {
		t.Fatal("a connection was left in a transaction")
	}
}
