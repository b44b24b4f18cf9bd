package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/transparency"
)

// streamFlags is a repeatable --stream flag.
type streamFlags []string

func (s *streamFlags) String() string { return fmt.Sprint(*s) }

func (s *streamFlags) Set(v string) error {
	if v == "" {
		return errors.New("empty stream id")
	}
	*s = append(*s, v)
	return nil
}

// runAudit runs "riskreg audit export | verify".
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	if len(args) > 0 && args[0] == "verify" {
		return runAuditVerify(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprint(stderr, "Usage: riskreg audit export --out FILE [--since-checkpoint FILE] [--stream ID]...\n"+
			"       riskreg audit verify FILE --verifier-key PUB [--checkpoint FILE]\n")
		return errUsage
	}
	fs := newFlagSet("audit export --out FILE [--since-checkpoint FILE] [--stream ID]... [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	out := fs.String("out", "", "the bundle `file` to write")
	since := fs.String("since-checkpoint", "", "a checkpoint `file` the auditor holds: the bundle proves the log consistent with it")
	var streams streamFlags
	fs.Var(&streams, "stream", "export only this stream's events, each with an inclusion proof; repeatable (default: every event)")
	positional, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) > 0 || *out == "" {
		return usageErrorf(fs, "audit export needs --out FILE and no arguments")
	}
	opts := transparency.ExportOptions{Streams: streams}
	if *since != "" {
		b, err := os.ReadFile(*since)
		if err != nil {
			return fmt.Errorf("--since-checkpoint: %w", err)
		}
		cp, err := transparency.ParseUnverified(b)
		if err != nil {
			return fmt.Errorf("--since-checkpoint: %w", err)
		}
		opts.Since = &cp
	}
	return withDatabase(ctx, db, logger, func(url string) error {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer pool.Close()
		// No upcasters: the bundle carries the events as their hashes
		// cover them.
		store, err := eventstore.New(pool, eventstore.Config{Logger: logger})
		if err != nil {
			return err
		}
		defer store.Close()
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		sum, err := transparency.ExportBundle(ctx, store, f, opts)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit export: %w", cerr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "exported %d events of the tree of %d leaves signed by %s to %s\n", sum.Events, sum.TreeSize, sum.Origin, *out)
		return nil
	})
}

// runAuditVerify runs "riskreg audit verify FILE --verifier-key PUB
// [--checkpoint FILE]", with no database and no network.
func runAuditVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify FILE --verifier-key PUB [--checkpoint FILE]", stderr)
	verifierKey := fs.String("verifier-key", "", "the log's verifier key (`file` or name+hash+key string)")
	held := fs.String("checkpoint", "", "a checkpoint `file` the auditor kept from earlier: the bundle must be consistent with it")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || *verifierKey == "" {
		return usageErrorf(fs, "audit verify needs one bundle FILE and --verifier-key")
	}
	v, err := transparency.LoadVerifier(*verifierKey)
	if err != nil {
		return err
	}
	var heldCP *transparency.Checkpoint
	if *held != "" {
		b, err := os.ReadFile(*held)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		cp, err := transparency.OpenCheckpoint(b, v)
		if err != nil {
			return fmt.Errorf("--checkpoint %s: %w", *held, err)
		}
		heldCP = &cp
	}
	f, err := os.Open(positional[0])
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	sum, problems, err := transparency.VerifyBundle(f, v, heldCP)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return fmt.Errorf("%w: %w", errTampered, err)
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "%d problems in %d events of the bundle\n", len(problems), sum.Events)
		return fmt.Errorf("%w: %d problems in the bundle", errTampered, len(problems))
	}
	fmt.Fprintf(stdout, "intact: %d events, tree of %d leaves signed by %s\n", sum.Events, sum.TreeSize, sum.Origin)
	return nil
}

var _ flag.Value = (*streamFlags)(nil)
