package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/projection"
)

// runReplay runs "riskreg replay --projection NAME | --all": it rebuilds
// read models from the start of the event log into shadow tables and swaps
// them in once caught up, while a running serve keeps answering from the old
// ones.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("replay --projection NAME[,NAME...] | --all [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	names := fs.String("projection", "", "rebuild the projections with these comma-separated `names` ("+
		projection.NameDecisions+", "+projection.NameResponses+", "+projection.NameRisks+")")
	all := fs.Bool("all", false, "rebuild every projection")
	batch := fs.Int("batch-size", 10_000, "events applied per transaction")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "replay takes no arguments, got %q", positional)
	}
	if (*names == "") == !*all {
		return usageErrorf(fs, "give either --projection NAME or --all")
	}
	if *batch < 1 {
		return usageErrorf(fs, "--batch-size must be positive")
	}
	ps := projection.Builtin()
	if !*all {
		ps = nil
		for name := range strings.SplitSeq(*names, ",") {
			p, err := projection.Lookup(strings.TrimSpace(name))
			if err != nil {
				return usageErrorf(fs, "%v", err)
			}
			ps = append(ps, p)
		}
	}

	return withDatabase(ctx, db, logger, func(url string) error {
		// A reader, the swap, up to 3 writers and a spare per projection.
		pool, err := openMigrated(ctx, url, int32(4*len(ps)+2))
		if err != nil {
			return err
		}
		defer pool.Close()
		store, err := app.NewStore(pool, eventstore.Config{Logger: logger})
		if err != nil {
			return err
		}
		defer store.Close()
		// The rebuild holds read models in memory; trade memory for less
		// garbage collection while it runs.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		progress := newProgressReporter(stderr, logger)
		res, err := projection.Rebuild(ctx, projection.RebuildConfig{
			Store: store, Projections: ps, BatchSize: *batch, Logger: logger, Progress: progress.report,
		})
		progress.finish()
		if err != nil {
			return err
		}
		var rebuilt []string
		for _, p := range ps {
			rebuilt = append(rebuilt, fmt.Sprintf("%s (generation %d)", p.Name(), res.Generations[p.Name()]))
		}
		fmt.Fprintf(stdout, "rebuilt %s from %d events in %s; swapped in at position %s\n",
			strings.Join(rebuilt, ", "), res.Events, res.Elapsed.Round(time.Millisecond), res.Position)
		return nil
	})
}

// progressReporter shows a rebuild's progress: a bar redrawn in place on a
// terminal, a log line every few seconds otherwise.
type progressReporter struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	logger   *slog.Logger
	every    time.Duration
	last     time.Time
	lastSeen projection.Progress
	drawn    bool
}

func newProgressReporter(w io.Writer, logger *slog.Logger) *progressReporter {
	f, ok := w.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	every := 5 * time.Second
	if tty {
		every = 100 * time.Millisecond
	}
	return &progressReporter{w: w, tty: tty, logger: logger, every: every}
}

// report takes a progress report; it shows one at most every so often.
func (r *progressReporter) report(p projection.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastSeen = p
	if now := time.Now(); now.Sub(r.last) >= r.every {
		r.last = now
		r.show(p)
	}
}

// finish shows the last progress report and ends the bar's line.
func (r *progressReporter) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.show(r.lastSeen)
	if r.tty && r.drawn {
		fmt.Fprintln(r.w)
	}
}

func (r *progressReporter) show(p projection.Progress) {
	if !r.tty {
		r.logger.Info("replay progress", "events", p.Done, "total", p.Total, "events_per_second", int64(p.Rate()),
			"eta", p.ETA().Round(time.Second).String())
		return
	}
	r.drawn = true
	fmt.Fprint(r.w, "\r"+progressLine(p, 30))
}

// progressLine renders p as a bar of width cells with counts, rate and ETA.
func progressLine(p projection.Progress, width int) string {
	frac := 1.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	filled := int(frac * float64(width))
	return fmt.Sprintf("replay [%s%s] %3.0f%% %s/%s events  %s events/s  ETA %s ",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), frac*100,
		thousands(p.Done), thousands(p.Total), thousands(int64(p.Rate())), p.ETA().Round(time.Second))
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// projectionRunners keeps the read models up to date while serve runs.
type projectionRunners struct {
	runner *projection.Runner
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan error
}

// startProjections starts the runners of the built-in projections on store,
// spread over the replicas (projection.Config.Spread); they run until ctx
// ends or stop is called.
func startProjections(ctx context.Context, store *eventstore.Store, logger *slog.Logger) (*projectionRunners, error) {
	runner, err := projection.NewRunner(projection.Config{Store: store, Logger: logger, Spread: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	rs := &projectionRunners{runner: runner, logger: logger, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- runner.Run(ctx) }()
	return rs, nil
}

// stop stops the runners, which release their locks.
func (rs *projectionRunners) stop() {
	rs.cancel()
	if err := <-rs.done; err != nil && !errors.Is(err, eventstore.ErrClosed) {
		rs.logger.Warn("projection runners stopped with an error", "err", err)
	}
}
