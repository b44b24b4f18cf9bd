package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/migrations"
	"github.com/riskreg/riskreg/projection"
)

// runServe runs "riskreg serve": it applies pending migrations and serves
// HTTP until ctx ends, then shuts down gracefully.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("serve [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	addr := fs.String("addr", envOr(getenv, "RISKREG_ADDR", "127.0.0.1:8080"),
		"`host:port` to serve HTTP on; port 0 picks a free one (env RISKREG_ADDR)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second,
		"how long to let requests in flight finish on SIGTERM or SIGINT")
	drainFor := fs.Duration("drain", defaultDrain,
		"on SIGTERM or SIGINT, how long to keep serving with /readyz failing before the listener closes")
	var api apiFlags
	api.register(fs)
	var publish publishFlags
	publish.register(fs, getenv)
	var cal calendarFlags
	cal.register(fs)
	var lf logFlags
	lf.register(fs, getenv)
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "serve takes no arguments, got %q", positional)
	}

	db.supervise, db.initialise = true, true
	return withDatabaseHealth(ctx, db, logger, func(url string, health func() error) error {
		pool, err := openMigrated(ctx, url, servePoolSize)
		if err != nil {
			return err
		}
		defer pool.Close()
		latest, err := migrations.Latest()
		if err != nil {
			return err
		}
		// One store for the API, the projections and the relays: its
		// subscribers are woken at once by its own appends.
		appendSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "riskreg_append_seconds",
			Help:    "Time from an append's call to its commit, group commit included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		})
		store, err := app.NewStore(pool, eventstore.Config{Logger: logger,
			ObserveAppend: func(d time.Duration) { appendSeconds.Observe(d.Seconds()) }})
		if err != nil {
			return err
		}
		defer store.Close()
		runners, err := startProjections(ctx, store, logger)
		if err != nil {
			return err
		}
		defer runners.stop()
		relays, err := startRelays(ctx, store, publish.urls, publish.source, logger)
		if err != nil {
			return err
		}
		defer relays.stop()
		api.reviewPolicy = cal.policy
		sweeper, err := startCalendar(ctx, store, pool, cal, logger)
		if err != nil {
			return err
		}
		defer sweeper.stop()
		merkle, err := startIntegrator(ctx, store, lf, logger)
		if err != nil {
			return err
		}
		defer merkle.stop()
		var draining atomic.Bool
		h := newAPIHandler(ctx, store, api, drainReadiness(&draining, newHandler(pool, latest, health, logger)), logger,
			relays.Collector(), projection.NewCollector(pool), runners.runner.Collector(), appendSeconds)
		h = withLogRoutes(h, store, logger)
		return serveHTTP(ctx, *addr, h, shutdown{drain: *drainFor, timeout: *shutdownTimeout, draining: &draining}, logger)
	})
}

// servePoolSize is the connection pool of riskreg serve, for API requests,
// appends and projection batches; each projection and relay also keeps a
// lock connection of its own outside the pool (docs/operations.md sizes
// them against max_connections).
const servePoolSize = 16

// shutdown says how serveHTTP stops: it sets draining and keeps serving for
// drain, then lets requests in flight finish for up to timeout.
type shutdown struct {
	drain    time.Duration
	timeout  time.Duration
	draining *atomic.Bool
}

// serveHTTP serves h on addr until ctx ends, then drains and shuts down as
// sd says.
func serveHTTP(ctx context.Context, addr string, h http.Handler, sd shutdown, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}
	if err, early := drain(srv, sd.draining, sd.drain, served, logger); early {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sd.timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	return nil
}
