package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/riskreg/riskreg/transparency"
	"github.com/riskreg/riskreg/transparency/witness"
)

// errInconsistent reports that a witness caught a log rewriting its history.
var errInconsistent = errors.New("the log is not consistent with a checkpoint it signed before")

// runWitness runs "riskreg witness --log URL --verifier-key PUB --state DIR
// [--signing-key FILE] [--once]".
func runWitness(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("witness --log URL --verifier-key PUB --state DIR [--signing-key FILE] [--once] [flags]", stderr)
	logURL := fs.String("log", "", "base `URL` of the riskreg log to watch (it serves /log/checkpoint)")
	verifierKey := fs.String("verifier-key", "", "the log's verifier key (`file` or name+hash+key string)")
	state := fs.String("state", "", "`directory` that keeps the last checkpoint accepted, its cosigned form and evidence")
	signingKey := fs.String("signing-key", "", "the witness's own key `file` (riskreg keys generate): cosigns every checkpoint accepted")
	once := fs.Bool("once", false, "poll once and exit: 0 when the log is consistent, 1 otherwise")
	interval := fs.Duration("interval", 10*time.Second, "how often to poll the log")
	addr := fs.String("addr", "127.0.0.1:8081", "`host:port` serving /checkpoint (cosigned) and /metrics; not with --once")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 || *logURL == "" || *verifierKey == "" || *state == "" {
		return usageErrorf(fs, "witness needs --log, --verifier-key and --state")
	}
	v, err := transparency.LoadVerifier(*verifierKey)
	if err != nil {
		return err
	}
	cfg := witness.Config{LogURL: strings.TrimRight(*logURL, "/"), Verifier: v, StateDir: *state, Logger: logger}
	if *signingKey != "" {
		if cfg.Key, err = transparency.LoadSigningKey(*signingKey); err != nil {
			return err
		}
	}
	w, err := witness.New(cfg)
	if err != nil {
		return err
	}
	if *once {
		err := w.Poll(ctx)
		if errors.Is(err, witness.ErrInconsistent) {
			return fmt.Errorf("%w: %w", errInconsistent, err)
		}
		return err
	}
	go w.Run(ctx, *interval)
	return serveHTTP(ctx, *addr, w.Handler(), shutdown{timeout: 5 * time.Second}, logger)
}
