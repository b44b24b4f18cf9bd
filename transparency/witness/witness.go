// Package witness is a transparency log witness (as in C2SP
// tlog-witness, polling instead of being pushed to): it follows a riskreg
// log's signed checkpoints, checks that each new one is consistent with the
// last one it accepted, cosigns it (C2SP tlog-cosignature/v1) and keeps it.
// A log that rewrites, forks or truncates its history cannot get a witness
// that saw the earlier checkpoint to accept the new one.
package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/mod/sumdb/note"

	"github.com/riskreg/riskreg/transparency"
)

// ErrInconsistent means that the log showed a checkpoint that is not
// consistent with one the witness accepted before: its history was
// rewritten, forked or truncated.
var ErrInconsistent = errors.New("witness: the log is not consistent with a checkpoint it signed before")

// maxResponse caps what the witness reads of one response from the log.
const maxResponse = 1 << 20

// Config configures a Witness. LogURL, Verifier and StateDir are required.
type Config struct {
	// LogURL is the log's base URL; the witness reads LogURL/log/checkpoint
	// and LogURL/log/consistency.
	LogURL string
	// Verifier checks the log's checkpoint signatures.
	Verifier note.Verifier
	// StateDir keeps the last checkpoint accepted ("checkpoint"), its
	// cosigned form ("cosigned") and evidence of inconsistencies.
	StateDir string
	// Key, when set, cosigns every checkpoint accepted.
	Key *transparency.SigningKey
	// Client fetches from the log. Default: a client with a 30s timeout.
	Client *http.Client
	// Logger receives the witness's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of cosignatures. Default time.Now.
	Now func() time.Time
}

// Witness watches one log.
type Witness struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	current  *transparency.Checkpoint // the last one accepted
	cosigned []byte

	reg          *prometheus.Registry
	size         prometheus.Gauge
	inconsistent prometheus.Gauge
	polls        *prometheus.CounterVec
}

// New returns a witness, loading the checkpoint it accepted last from
// StateDir.
func New(cfg Config) (*Witness, error) {
	if cfg.LogURL == "" || cfg.Verifier == nil || cfg.StateDir == "" {
		return nil, errors.New("witness: LogURL, Verifier and StateDir are required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("witness: state dir: %w", err)
	}
	w := &Witness{cfg: cfg, log: cfg.Logger.With("component", "witness", "log", cfg.Verifier.Name()), reg: prometheus.NewRegistry()}
	w.size = prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskreg_witness_checkpoint_size",
		Help: "Tree size of the last checkpoint the witness accepted."})
	w.inconsistent = prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskreg_witness_inconsistent",
		Help: "1 once the log showed a checkpoint inconsistent with one accepted before (history rewritten), else 0."})
	w.polls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskreg_witness_polls_total",
		Help: "Polls of the log, by result (accepted, unchanged, inconsistent, error)."}, []string{"result"})
	w.reg.MustRegister(w.size, w.inconsistent, w.polls)
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, "checkpoint"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: %w", err)
	default:
		cp, err := transparency.OpenCheckpoint(b, cfg.Verifier)
		if err != nil {
			return nil, fmt.Errorf("witness: the stored checkpoint: %w", err)
		}
		w.current = &cp
		w.size.Set(float64(cp.Size))
		w.cosigned, _ = os.ReadFile(filepath.Join(cfg.StateDir, "cosigned"))
	}
	return w, nil
}

// Current returns the checkpoint accepted last, or nil.
func (w *Witness) Current() *transparency.Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Poll fetches the log's checkpoint and accepts it when it is consistent
// with the one accepted before. It returns an error wrapping ErrInconsistent
// when it is not (and keeps the evidence in StateDir), and other errors when
// the log cannot be read or its checkpoint does not verify.
func (w *Witness) Poll(ctx context.Context) error {
	err := w.poll(ctx)
	switch {
	case errors.Is(err, ErrInconsistent):
		w.polls.WithLabelValues("inconsistent").Inc()
		w.inconsistent.Set(1)
		w.log.Error("witness: the log rewrote its history", "err", err)
	case err != nil:
		w.polls.WithLabelValues("error").Inc()
		w.log.Warn("witness: cannot check the log", "err", err)
	}
	return err
}

func (w *Witness) poll(ctx context.Context) error {
	body, err := w.get(ctx, "/log/checkpoint")
	if err != nil {
		return err
	}
	cp, err := transparency.OpenCheckpoint(body, w.cfg.Verifier)
	if err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	old := w.Current()
	if old != nil {
		switch {
		case cp.Size < old.Size:
			return w.evidence(old, &cp, fmt.Errorf("%w: it shrank from %d to %d leaves", ErrInconsistent, old.Size, cp.Size))
		case cp.Size == old.Size:
			if !bytes.Equal(cp.Root, old.Root) {
				return w.evidence(old, &cp, fmt.Errorf("%w: two roots for %d leaves (a fork)", ErrInconsistent, cp.Size))
			}
			w.polls.WithLabelValues("unchanged").Inc()
			return nil
		}
		var pj transparency.ConsistencyJSON
		b, err := w.get(ctx, "/log/consistency?from="+strconv.FormatUint(old.Size, 10)+"&to="+strconv.FormatUint(cp.Size, 10))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &pj); err != nil {
			return fmt.Errorf("witness: consistency proof: %w", err)
		}
		p, err := pj.Proof()
		if err != nil {
			return fmt.Errorf("witness: consistency proof: %w", err)
		}
		// The proof is checked against the roots the log signed, never the
		// ones it sends with the proof.
		p.FromSize, p.ToSize, p.FromRoot, p.ToRoot = old.Size, cp.Size, old.Root, cp.Root
		if err := p.Verify(); err != nil {
			return w.evidence(old, &cp, fmt.Errorf("%w: %w", ErrInconsistent, err))
		}
	}
	return w.accept(&cp)
}

// accept stores cp, cosigned when the witness has a key.
func (w *Witness) accept(cp *transparency.Checkpoint) error {
	cosigned := cp.Note
	if w.cfg.Key != nil {
		n, err := note.Open(cp.Note, note.VerifierList(w.cfg.Verifier))
		if err != nil {
			return fmt.Errorf("witness: %w", err)
		}
		if cosigned, err = note.Sign(n, w.cfg.Key.Cosigner(w.cfg.Now)); err != nil {
			return fmt.Errorf("witness: cosign: %w", err)
		}
	}
	if err := writeFile(filepath.Join(w.cfg.StateDir, "checkpoint"), cp.Note); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(w.cfg.StateDir, "cosigned"), cosigned); err != nil {
		return err
	}
	w.mu.Lock()
	w.current, w.cosigned = cp, cosigned
	w.mu.Unlock()
	w.size.Set(float64(cp.Size))
	w.polls.WithLabelValues("accepted").Inc()
	w.log.Info("witness: accepted a checkpoint", "size", cp.Size)
	return nil
}

// evidence keeps both checkpoints in StateDir and returns err.
func (w *Witness) evidence(old, bad *transparency.Checkpoint, err error) error {
	name := filepath.Join(w.cfg.StateDir, "inconsistent-"+w.cfg.Now().UTC().Format("20060102T150405Z"))
	data := append(append(append([]byte(nil), old.Note...), "\n"...), bad.Note...)
	if werr := writeFile(name, data); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// Run polls every interval until ctx ends. An inconsistent log is logged
// and shown in the metrics; the witness keeps the checkpoint it accepted and
// goes on refusing the log's new ones.
func (w *Witness) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = w.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Handler serves GET /checkpoint (the last checkpoint accepted, with the
// witness's cosignature) and GET /metrics.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", func(rw http.ResponseWriter, _ *http.Request) {
		w.mu.Lock()
		b := w.cosigned
		w.mu.Unlock()
		if b == nil {
			http.Error(rw, "no checkpoint accepted yet", http.StatusNotFound)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write(b)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{}))
	return mux
}

// get fetches path from the log.
func (w *Witness) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.cfg.LogURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("witness: read %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("witness: GET %s: %s", path, resp.Status)
	}
	return b, nil
}

func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	return nil
}
