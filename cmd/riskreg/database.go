package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgembed"
	"github.com/riskreg/riskreg/migrations"
)

// embeddedStopTimeout bounds the embedded PostgreSQL's fast shutdown.
const embeddedStopTimeout = time.Minute

// dbFlags says which database a subcommand uses: the one --database-url names
// or, without one, the embedded PostgreSQL in --data-dir.
type dbFlags struct {
	url     string
	dataDir string
	// supervise restarts the embedded PostgreSQL when it dies (serve).
	supervise bool
	// initialise lets the command create the embedded PostgreSQL's data
	// directory (serve, migrate up); the others refuse a directory that
	// holds none, rather than work on a new, empty database.
	initialise bool
}

func (f *dbFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.url, "database-url", getenv("DATABASE_URL"),
		"PostgreSQL `URL`, e.g. postgres://user@host:5432/riskreg?sslmode=disable (env DATABASE_URL); "+
			"empty: run the embedded PostgreSQL in --data-dir")
	fs.StringVar(&f.dataDir, "data-dir", envOr(getenv, "RISKREG_DATA_DIR", "./riskreg-data"),
		"`directory` of the embedded PostgreSQL's data, kept across runs (env RISKREG_DATA_DIR)")
}

// withDatabase calls fn with the URL of the database that f names, starting
// the embedded PostgreSQL first and stopping it afterwards when f names none.
func withDatabase(ctx context.Context, f dbFlags, logger *slog.Logger, fn func(databaseURL string) error) error {
	return withDatabaseHealth(ctx, f, logger, func(url string, _ func() error) error { return fn(url) })
}

// withDatabaseHealth is withDatabase that also hands fn what reports whether
// the embedded PostgreSQL runs (always nil for a --database-url).
func withDatabaseHealth(ctx context.Context, f dbFlags, logger *slog.Logger, fn func(databaseURL string, health func() error) error) error {
	url, health, release, err := f.open(ctx, logger)
	if err != nil {
		return err
	}
	err = fn(url, health)
	// ctx may be done (a signal asked riskreg to stop); the database must
	// still be shut down properly.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), embeddedStopTimeout)
	defer cancel()
	return errors.Join(err, release(stopCtx))
}

// open returns the database URL to use, what reports the embedded
// PostgreSQL's health and what releases it.
func (f dbFlags) open(ctx context.Context, logger *slog.Logger) (string, func() error, func(context.Context) error, error) {
	if f.url != "" {
		return f.url, func() error { return nil }, func(context.Context) error { return nil }, nil
	}
	cluster, err := pgembed.Start(ctx, pgembed.Config{
		DataDir:   f.dataDir,
		Supervise: f.supervise,
		NoInit:    !f.initialise,
		Logger:    logger,
	})
	if errors.Is(err, pgembed.ErrNoCluster) {
		abs, _ := filepath.Abs(f.dataDir)
		return "", nil, nil, fmt.Errorf("no riskreg database in %s (--data-dir, default ./riskreg-data, is relative to the current directory): "+
			"run this command in the directory where riskreg serve runs, or name the data directory with --data-dir "+
			"(env RISKREG_DATA_DIR) or the database with --database-url (env DATABASE_URL); only serve and migrate up create a data directory: %w",
			abs, err)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("no --database-url (or DATABASE_URL) given, and the embedded PostgreSQL in %s cannot start: %w",
			f.dataDir, err)
	}
	return cluster.URL("postgres"), cluster.Health, cluster.Stop, nil
}

// openMigrated applies pending migrations to the database at url and opens a
// pool of at least minConns connections on it (0: pgx's default), unless the
// URL sets pool_max_conns.
func openMigrated(ctx context.Context, url string, minConns int32) (*pgxpool.Pool, error) {
	if err := migrateUnlessNewer(ctx, url); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, minConns)
	}
	eventstore.BoundSessions(cfg.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	return pool, nil
}

// migrateUnlessNewer applies pending migrations, unless the schema is newer
// than this binary's (a newer release migrated it during a rolling upgrade):
// migrations stay backward compatible for a release, so an older replica
// runs on it as it is.
func migrateUnlessNewer(ctx context.Context, url string) error {
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	version, dirty, err := migrations.Version(ctx, url)
	if err == nil && !dirty && version > latest {
		return nil
	}
	return migrations.Up(ctx, url)
}
