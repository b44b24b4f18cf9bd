package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, stream := range []string{"risk-a", "risk-b"} {
		_, err := store.Append(ctx, eventstore.StreamAppend{StreamID: stream, StreamType: "risk", Expected: eventstore.NoStream,
			Events: []eventstore.Event{{Type: "RiskRegistered", Data: json.RawMessage(`{"title": "t"}`)}, {Type: "RiskUpdated", Data: json.RawMessage(`{"title": "u"}`)}}})
		if err != nil {
			t.Fatal(err)
		}
	}

	if out := mustRiskreg(t, "verify", "--database-url", url); !strings.Contains(out, "intact: 4 events checked") {
		t.Errorf("verify of an intact log printed:\n%s", out)
	}

	for _, sql := range []string{
		"ALTER TABLE events DISABLE TRIGGER USER",
		`UPDATE events SET data = '{"title": "forged"}' WHERE stream_id = 'risk-b' AND version = 2`,
		"ALTER TABLE events ENABLE TRIGGER USER",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := riskreg(t, "verify", "--database-url", url)
	if code != 1 {
		t.Errorf("verify of an edited log exited %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "stream risk-b version 2:") || strings.Contains(stdout, "risk-a") {
		t.Errorf("verify of an edited log printed:\n%s", stdout)
	}
	if out := mustRiskreg(t, "verify", "--stream", "risk-a", "--database-url", url); !strings.Contains(out, "intact: 2 events checked") {
		t.Errorf("verify --stream risk-a printed:\n%s", out)
	}
}
