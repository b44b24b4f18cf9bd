package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/transparency"
)

// errTampered reports that verify found the log not intact.
var errTampered = errors.New("the event log is not intact")

// errNoStream reports that verify --stream named a stream the log does not
// hold.
var errNoStream = errors.New("no such stream")

// runVerify runs "riskreg verify [--stream ID] [--checkpoint FILE...]": it
// recomputes the hash chain of the event log and, for the whole log, checks
// the Merkle log against the checkpoints (see verifyLog), prints every
// problem and fails when there is any.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("verify [--stream ID] [--checkpoint FILE ... --verifier-key PUB] [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	stream := fs.String("stream", "", "verify only the stream with this `ID` (default: every stream)")
	var held checkpointFiles
	fs.Var(&held, "checkpoint", "a signed checkpoint `file` kept from earlier: the log must still hash to it; repeatable "+
		"(default: every checkpoint riskreg stored)")
	verifierKey := fs.String("verifier-key", "", "the log's verifier key (`file` or name+hash+key string, riskreg.pub)")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "verify takes no arguments, got %q", positional)
	}
	if len(held) > 0 && (*verifierKey == "" || *stream != "") {
		return usageErrorf(fs, "--checkpoint needs --verifier-key, and checks the whole log (no --stream)")
	}
	return withDatabase(ctx, db, logger, func(url string) error {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer pool.Close()
		store, err := eventstore.New(pool, eventstore.Config{Logger: logger})
		if err != nil {
			return err
		}
		defer store.Close()
		rep, err := store.Verify(ctx, *stream)
		if err != nil {
			return err
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "stream %s version %d: %s\n", p.StreamID, p.Version, p.Reason)
		}
		if *stream != "" && rep.CheckedEvents == 0 {
			fmt.Fprintf(stdout, "stream %s does not exist\n", *stream)
			return fmt.Errorf("%w: %s", errNoStream, *stream)
		}
		problems := len(rep.Problems)
		var logRep transparency.Report
		if *stream == "" {
			if logRep, err = verifyLog(ctx, store, held, *verifierKey, stdout); err != nil {
				return err
			}
			problems += len(logRep.Problems)
		}
		if problems > 0 {
			fmt.Fprintf(stdout, "%d problems in %d events checked\n", problems, rep.CheckedEvents)
			return fmt.Errorf("%w: %d problems", errTampered, problems)
		}
		fmt.Fprintf(stdout, "intact: %d events checked\n", rep.CheckedEvents)
		if *stream == "" {
			printLogSummary(stdout, logRep, len(held) > 0)
		}
		return nil
	})
}
