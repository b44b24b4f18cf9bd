package papers_test

import (
	"context"
	"flag"
	"io"
	"testing"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/papers"
	"github.com/riskreg/riskreg/transparency"
)

var (
	benchEvents = flag.Int("paper-events", 1_000_000, "events in the log for BenchmarkPaper")
	benchRisks  = flag.Int("paper-risks", 10_000, "risks on the register for BenchmarkPaper")
)

// BenchmarkPaper builds and renders the paper of a session over a register
// of 10,000 risks and a log of 1,000,000 events (written with COPY, read
// models built by a rebuild; see seed), with a previous session on the
// log's middle day and 20 tabled items; the Merkle tree covers the whole
// log and a checkpoint of it is signed, and the builder names it in the
// paper, as serve's does. Run with
//
//	go test ./papers -run '^$' -bench Paper -benchtime 5x [-args -paper-events N -paper-risks N]
func BenchmarkPaper(b *testing.B) {
	s := seed(b, *benchRisks, *benchEvents, true)
	ctx := context.Background()
	tlog := transparency.NewLog(s.env.Store)
	builder := builder(s.env)
	builder.Checkpoint = func(ctx context.Context, pos eventstore.Position) (string, error) {
		c, err := tlog.CheckpointCovering(ctx, pos)
		if err != nil || c == nil {
			return "", err
		}
		return string(c.Note), nil
	}
	for _, f := range []papers.Format{papers.FormatXLSX, papers.FormatPDF, papers.FormatCSV} {
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				p, err := builder.Build(ctx, s.session)
				if err != nil {
					b.Fatal(err)
				}
				if p.Checkpoint == "" {
					b.Fatal("the paper names no signed checkpoint")
				}
				if err := papers.Render(io.Discard, p, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
