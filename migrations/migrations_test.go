package migrations_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestDownRefusesToDropTheLog checks that rolling the schema all the way back
// refuses while the event log holds events, and works on an empty one.
func TestDownRefusesToDropTheLog(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t) // migrated to the latest version
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	count, err := migrations.Count()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, occurred_at, prev_hash, hash)
		VALUES (gen_random_uuid(), 's', 'risk', 1, 'RiskRegistered', 1, '{}', now(), '\x00', '\x00')`)
	if err != nil {
		t.Fatal(err)
	}

	err = migrations.Down(ctx, url, count)
	if err == nil || !strings.Contains(err.Error(), "refusing to drop a non-empty event log") {
		t.Fatalf("Down over a non-empty log: %v, want a refusal", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 1 {
		t.Errorf("events after the refused Down: %d, %v; want the event kept", n, err)
	}

	empty := pgtest.NewDatabase(t)
	if err := migrations.Down(ctx, empty, count); err != nil {
		t.Fatalf("Down over an empty log: %v", err)
	}
	if v, dirty, err := migrations.Version(ctx, empty); err != nil || v != 0 || dirty {
		t.Errorf("after Down: version %d dirty %v err %v; want 0", v, dirty, err)
	}
	if err := migrations.Up(ctx, empty); err != nil {
		t.Fatalf("Up again: %v", err)
	}
	if v, _, _ := migrations.Version(ctx, empty); v != latest {
		t.Errorf("after Up: version %d, want %d", v, latest)
	}
}
