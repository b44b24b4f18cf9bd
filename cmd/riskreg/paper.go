package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/papers"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
	"github.com/riskreg/riskreg/transparency"
)

// runPaper runs "riskreg paper --session ID --format xlsx|pdf|csv --out
// FILE": it writes the session's paper from the log and the read models.
func runPaper(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("paper --session ID --format xlsx|pdf|csv --out FILE [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	session := fs.String("session", "", "the session's `ID`")
	format := fs.String("format", "xlsx", "`xlsx`, pdf or csv")
	out := fs.String("out", "", "the `FILE` to write; - for standard output")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	f, ferr := papers.ParseFormat(*format)
	switch {
	case len(positional) > 0:
		return usageErrorf(fs, "paper takes no arguments, got %q", positional)
	case *session == "":
		return usageErrorf(fs, "--session is required")
	case *out == "":
		return usageErrorf(fs, "--out is required")
	case ferr != nil:
		return usageErrorf(fs, "%v", ferr)
	}
	return withStore(ctx, db, logger, func(store *eventstore.Store) error {
		// The paper reads the read models up to its log position: run the
		// projections here too, so that they catch up when no serve process
		// keeps them (one runner per projection at a time: with serve up,
		// serve's keep them).
		runners, err := startProjections(ctx, store, logger)
		if err != nil {
			return err
		}
		defer runners.stop()
		reader := projection.NewReader(store)
		head, err := store.PositionAt(ctx, time.Now())
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, papers.DefaultWait)
		err = reader.WaitFor(wctx, head)
		cancel()
		if err != nil {
			return fmt.Errorf("the read models did not catch up with the log within %s: %w", papers.DefaultWait, err)
		}
		b := &papers.Builder{Store: store, Reader: reader, Register: register.New(store, time.Now),
			Checkpoint: paperCheckpoint(transparency.NewLog(store))}
		p, err := b.Build(ctx, *session)
		if err != nil {
			return err
		}
		w := stdout
		if *out != "-" {
			file, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer file.Close()
			w = file
		}
		if err := papers.Render(w, p, f); err != nil {
			return err
		}
		if *out != "-" {
			fmt.Fprintf(stderr, "wrote %s (session %s, log position %s)\n", *out, p.SessionID, p.Position)
		}
		return nil
	})
}
