package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/transparency"
)

// logFlags configure the Merkle log's integrator: the signing key and where
// checkpoints go.
type logFlags struct {
	signingKey string
	interval   time.Duration
	dir        string
}

func (f *logFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.signingKey, "signing-key", getenv("RISKREG_SIGNING_KEY"),
		"`file` with the Ed25519 key that signs the log's checkpoints (riskreg keys generate; env RISKREG_SIGNING_KEY); "+
			"without one, no checkpoint is signed and history is not externally verifiable")
	fs.DurationVar(&f.interval, "checkpoint-interval", 10*time.Second,
		"least time between two signed checkpoints (one is signed only when the log has grown)")
	fs.StringVar(&f.dir, "checkpoint-dir", "", "`directory` that receives a file per signed checkpoint")
}

// key loads the signing key, if any.
func (f *logFlags) key() (*transparency.SigningKey, error) {
	if f.signingKey == "" {
		return nil, nil
	}
	return transparency.LoadSigningKey(f.signingKey)
}

// integrator runs the Merkle log's integrator in the background.
type integrator struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startIntegrator starts the integrator on store; it runs until ctx ends or
// stop is called.
func startIntegrator(ctx context.Context, store *eventstore.Store, f logFlags, logger *slog.Logger) (*integrator, error) {
	key, err := f.key()
	if err != nil {
		return nil, err
	}
	if key == nil {
		logger.Warn("no --signing-key: the log's checkpoints are not signed, so its history is not externally verifiable")
	}
	in, err := transparency.NewIntegrator(transparency.IntegratorConfig{Store: store, Key: key,
		CheckpointInterval: f.interval, CheckpointDir: f.dir, Logger: logger})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &integrator{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(it.done)
		if err := in.Run(ctx); err != nil {
			logger.Error("transparency: the integrator stopped", "err", err)
		}
	}()
	return it, nil
}

// stop stops the integrator and waits for it.
func (it *integrator) stop() {
	it.cancel()
	<-it.done
}

// withLogRoutes serves the Merkle log under /log/ next to h.
func withLogRoutes(h http.Handler, store *eventstore.Store, logger *slog.Logger) http.Handler {
	tokens := auth.NewStore(store.Pool(), time.Now)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/log/", transparency.Handler(transparency.NewLog(store), tokens.Authenticate, logger))
	return mux
}

// runIntegrate runs "riskreg integrate": the Merkle log's integrator alone,
// for deployments that run it apart from serve.
func runIntegrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("integrate [--signing-key FILE] [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	var lf logFlags
	lf.register(fs, getenv)
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "integrate takes no arguments, got %q", positional)
	}
	return withDatabase(ctx, db, logger, func(url string) error {
		pool, err := openMigrated(ctx, url, 4)
		if err != nil {
			return err
		}
		defer pool.Close()
		store, err := app.NewStore(pool, eventstore.Config{Logger: logger})
		if err != nil {
			return err
		}
		defer store.Close()
		it, err := startIntegrator(ctx, store, lf, logger)
		if err != nil {
			return err
		}
		<-ctx.Done()
		it.stop()
		return nil
	})
}

// runKeys runs "riskreg keys generate --out DIR [--name NAME]".
func runKeys(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys generate --out DIR [--name NAME]", stderr)
	out := fs.String("out", "", "`directory` to write riskreg.key (mode 0600) and riskreg.pub to")
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	name := fs.String("name", host+"/riskreg", "the key's `name`: the origin line of every checkpoint it signs")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || positional[0] != "generate" || *out == "" {
		return usageErrorf(fs, "keys needs: generate --out DIR")
	}
	skey, vkey, err := transparency.GenerateKey(*name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	keyPath, pubPath := filepath.Join(*out, "riskreg.key"), filepath.Join(*out, "riskreg.pub")
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("keys: %s exists; riskreg never overwrites a signing key", keyPath)
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := fmt.Fprintln(f, skey); err != nil {
		f.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := os.WriteFile(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	fmt.Fprintf(stdout, "signing key: %s (keep it outside the database and its backups)\nverifier key: %s\n%s\n", keyPath, pubPath, vkey)
	return nil
}
