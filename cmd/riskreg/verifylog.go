package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/transparency"
)

// checkpointFiles is the repeatable --checkpoint flag: files of signed
// checkpoints held outside the database.
type checkpointFiles []string

func (c *checkpointFiles) String() string { return fmt.Sprint(*c) }

func (c *checkpointFiles) Set(v string) error {
	if v == "" {
		return errors.New("empty file name")
	}
	*c = append(*c, v)
	return nil
}

// verifyLog checks the Merkle log against the held checkpoints or, with
// none, against every checkpoint riskreg stored, prints one line per
// problem, and returns the report.
func verifyLog(ctx context.Context, store *eventstore.Store, files checkpointFiles, verifierKey string, stdout io.Writer) (transparency.Report, error) {
	opts := transparency.VerifyOptions{Stored: len(files) == 0}
	if verifierKey != "" {
		v, err := transparency.LoadVerifier(verifierKey)
		if err != nil {
			return transparency.Report{}, err
		}
		opts.Verifier = v
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return transparency.Report{}, fmt.Errorf("checkpoint: %w", err)
		}
		opts.Held = append(opts.Held, transparency.HeldCheckpoint{Name: f, Note: b})
	}
	rep, err := transparency.Verify(ctx, store, opts)
	if err != nil {
		return rep, err
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p)
	}
	return rep, nil
}

// printLogSummary prints the Merkle log's state after an intact verify;
// held says whether it was checked against held checkpoints only.
func printLogSummary(stdout io.Writer, rep transparency.Report, held bool) {
	fmt.Fprintf(stdout, "log: %d leaves recomputed, stored tree of %d leaves, %d checkpoints checked\n",
		rep.Leaves, rep.TreeSize, rep.Checkpoints)
	if rep.Latest != nil {
		fmt.Fprintf(stdout, "latest signed checkpoint: size %d, signed %s by %s\n",
			rep.Latest.Size, rep.Latest.SignedAt.UTC().Format("2006-01-02T15:04:05Z"), rep.Latest.Origin)
	} else if !held {
		fmt.Fprintln(stdout, "no signed checkpoint stored: run serve or integrate with --signing-key")
	}
}
