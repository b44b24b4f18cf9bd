package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readyTimeout bounds the database check behind /readyz.
const readyTimeout = 2 * time.Second

// newHandler returns the HTTP routes of riskreg serve:
//
//	GET /healthz  200 "ok" while the process runs and its embedded PostgreSQL
//	              (if any) runs or is being restarted; 503 once it cannot be
//	              brought back (liveness: restart riskreg)
//	GET /readyz   200 "ready" when the database answers and its schema is at
//	              version latest or newer; 503 with the reason otherwise (readiness).
//	              The reason never names the database's user, host or port:
//	              the log has the details.
func newHandler(pool *pgxpool.Pool, latest uint, health func() error, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := health(); err != nil {
			logger.Error("unhealthy: the embedded PostgreSQL is down", "err", err)
			http.Error(w, "the embedded PostgreSQL is down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason, err := notReady(r.Context(), pool, latest); reason != "" {
			logger.Warn("not ready", "reason", reason, "err", err)
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ready")
	})
	return mux
}

// notReady returns why the database cannot serve riskreg, or "" when it can,
// and the database's error, whose text is for the log only.
func notReady(ctx context.Context, pool *pgxpool.Pool, latest uint) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// schema_migrations is golang-migrate's version table (its default name,
	// which package migrations keeps): one row, or none before the first
	// migration. Reading it through the pool also proves the pool works.
	var version int64
	var dirty bool
	err := pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&version, &dirty)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil // no migration applied: version 0
	}
	switch {
	case err != nil:
		// pgx's error names the user, host and port: not for anonymous callers.
		return "database unavailable", err
	case dirty:
		return fmt.Sprintf("schema version %d is dirty (a migration failed half way)", version), nil
	case version < int64(latest):
		return fmt.Sprintf("schema version %d, want %d", version, latest), nil
		// A newer schema is ready: a rolling upgrade's first new replica
		// migrated, and migrations stay backward compatible for a release
		// (docs/operations.md), so this older replica keeps serving.
	}
	return "", nil
}
