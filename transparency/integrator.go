package transparency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/sleep"
)

// checkpointName is the integrator's checkpoint in the log.
const checkpointName = "transparency:log"

// lockKey is the advisory lock the integrator holds while it runs.
var lockKey = pglock.Key("riskreg/transparency/integrator")

// IntegratorConfig tunes an Integrator. Store is required.
type IntegratorConfig struct {
	// Store is the event log to follow.
	Store *eventstore.Store
	// Key signs checkpoints; nil signs none (the tree is still kept, but
	// nobody outside can hold the operator to it).
	Key *SigningKey
	// CheckpointInterval is the least time between two signed checkpoints;
	// one is signed only when the tree has grown. Default 10s.
	CheckpointInterval time.Duration
	// CheckpointDir, when set, receives a file per signed checkpoint.
	CheckpointDir string
	// BatchSize caps the events integrated in one transaction. Default 10,000.
	BatchSize int
	// BatchInterval is, live, the least time from the start of one
	// transaction of the integrator to the next: the events committed
	// meanwhile join the next one, so that a busy log is integrated in few
	// transactions (each rewrites the partial tiles on the tree's right
	// edge). It delays the tree by at most that much; checkpoints are far
	// rarer. Default 200ms; negative for none.
	BatchInterval time.Duration
	// LockRetryInterval is how often an integrator that waits for another
	// process's tries to take over. Default (and at most)
	// pglock.PingInterval.
	LockRetryInterval time.Duration
	// LockCheckInterval is how often the holder checks its lock session.
	// Default (and at most) pglock.PingInterval.
	LockCheckInterval time.Duration
	// Logger receives the integrator's logs. Default slog.Default().
	Logger *slog.Logger
	// OnCheckpoint, when set, is called with every checkpoint signed.
	OnCheckpoint func(Checkpoint)
}

// Integrator follows the event log and grows the Merkle tree over it, in at
// most one process at a time, and signs checkpoints of it.
type Integrator struct {
	cfg  IntegratorConfig
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	size uint64 // leaves integrated, as far as this process knows
}

// NewIntegrator returns an Integrator; Run starts it.
func NewIntegrator(cfg IntegratorConfig) (*Integrator, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("transparency: IntegratorConfig.Store is required")
	case cfg.BatchSize < 0, cfg.CheckpointInterval < 0, cfg.LockRetryInterval < 0, cfg.LockCheckInterval < 0:
		return nil, errors.New("transparency: negative integrator setting")
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = 10 * time.Second
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 10_000
	}
	if cfg.BatchInterval == 0 {
		cfg.BatchInterval = 200 * time.Millisecond
	}
	if cfg.LockCheckInterval == 0 {
		cfg.LockCheckInterval = pglock.PingInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Integrator{cfg: cfg, pool: cfg.Store.Pool(), log: cfg.Logger.With("component", "transparency")}, nil
}

// Size returns the number of leaves this process last integrated or saw.
func (in *Integrator) Size() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.size
}

func (in *Integrator) setSize(n uint64) {
	in.mu.Lock()
	in.size = n
	in.mu.Unlock()
}

// Run integrates the log until ctx ends and returns nil then; it returns
// early only when the store is closed. It waits while another process's
// integrator holds the lock, and takes over when that one is gone.
func (in *Integrator) Run(ctx context.Context) error {
	return pglock.Lead(ctx, pglock.LeadConfig{
		ConnConfig:    in.pool.Config().ConnConfig,
		AppName:       "riskreg transparency integrator",
		Key:           lockKey,
		RetryInterval: in.cfg.LockRetryInterval,
		CheckInterval: in.cfg.LockCheckInterval,
		Final:         func(err error) bool { return errors.Is(err, eventstore.ErrClosed) },
		Logger:        in.log,
	}, func(ctx context.Context, _ *pglock.Session) error { return in.hold(ctx) })
}

// hold integrates and signs while this process holds the lock, that is
// until ctx ends; it returns early only when the store is closed.
func (in *Integrator) hold(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: it stops the signer
	if in.cfg.Key != nil {
		wg.Go(func() { in.signLoop(ctx) })
	}
	// The wait before each retry: from 100ms, doubling, up to 1m.
	pause := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: time.Minute}
	for failures := 0; ctx.Err() == nil; {
		err := in.follow(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, eventstore.ErrClosed):
			return err
		}
		failures++
		in.log.Error("transparency: integrating failed; starting again from the stored tree", "err", err, "failures", failures)
		sleep.For(ctx, pause.NextBackOff())
	}
	return nil
}

// follow grows the stored tree from the log until an error stops it: first
// in batches, then live through a subscription.
func (in *Integrator) follow(ctx context.Context) error {
	b, err := in.load(ctx)
	if err != nil {
		return err
	}
	apply := func(ctx context.Context, events []eventstore.RecordedEvent) error {
		return in.integrate(ctx, b, events)
	}
	pos, err := eventstore.ParsePosition(b.last)
	if err != nil {
		return err
	}
	for {
		events, err := in.cfg.Store.ReadAll(ctx, pos, in.cfg.BatchSize, eventstore.Filter{})
		if err != nil {
			return err
		}
		if err := apply(ctx, events); err != nil {
			return err
		}
		if len(events) < in.cfg.BatchSize {
			break
		}
		pos = events[len(events)-1].Position
	}
	pos, _ = eventstore.ParsePosition(b.last)
	return in.cfg.Store.Subscribe(ctx, pos, eventstore.Filter{}, eventstore.Paced(in.cfg.BatchInterval, apply))
}

// load reads the stored tree and its position.
func (in *Integrator) load(ctx context.Context) (*builder, error) {
	var b *builder
	err := pgx.BeginTxFunc(ctx, in.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var size int64
		if err := tx.QueryRow(ctx, "SELECT size FROM log_tree").Scan(&size); err != nil {
			return fmt.Errorf("transparency: read the tree: %w", err)
		}
		pos, err := eventstore.LoadCheckpoint(ctx, tx, checkpointName)
		if err != nil {
			return err
		}
		b, err = loadBuilder(ctx, tx, uint64(size), pos)
		return err
	})
	if err != nil {
		return nil, err
	}
	in.setSize(b.size())
	return b, nil
}

// integrate adds events to the tree and commits them with the checkpoint.
// On failure the builder is spoilt: the caller loads the stored tree again.
func (in *Integrator) integrate(ctx context.Context, b *builder, events []eventstore.RecordedEvent) error {
	if len(events) == 0 {
		return nil
	}
	from := b.size()
	for i := range events {
		b.add(&events[i])
	}
	err := pgx.BeginFunc(ctx, in.pool, func(tx pgx.Tx) error {
		// The tree is derived from the log, and a crash that loses its last
		// commits loses its checkpoint in the log with them: it is grown
		// again, to the same hashes. A signed checkpoint is stored by a
		// synchronous commit, which flushes these first. So the commit
		// need not wait for the WAL flush.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return fmt.Errorf("transparency: %w", err)
		}
		return b.commit(ctx, tx, from, checkpointName)
	})
	if err != nil {
		return err
	}
	b.committed()
	in.setSize(b.size())
	return nil
}

// signLoop signs a checkpoint every CheckpointInterval when the tree grew.
func (in *Integrator) signLoop(ctx context.Context) {
	t := time.NewTicker(in.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cp, signed, err := SignLatest(ctx, in.pool, in.cfg.Key, in.cfg.CheckpointDir)
		if err != nil {
			if ctx.Err() == nil {
				in.log.Warn("transparency: cannot sign a checkpoint", "err", err)
			}
			continue
		}
		if signed {
			in.log.Info("transparency: signed a checkpoint", "size", cp.Size)
			if in.cfg.OnCheckpoint != nil {
				in.cfg.OnCheckpoint(cp)
			}
		}
	}
}

// WaitSize waits until the stored tree has at least n leaves, polling every
// interval; it returns ctx's error when ctx ends first.
func WaitSize(ctx context.Context, pool *pgxpool.Pool, n uint64, interval time.Duration) error {
	for {
		var size int64
		if err := pool.QueryRow(ctx, "SELECT size FROM log_tree").Scan(&size); err != nil {
			return fmt.Errorf("transparency: read the tree: %w", err)
		}
		if uint64(size) >= n {
			return nil
		}
		if !sleep.For(ctx, interval) {
			return ctx.Err()
		}
	}
}

// checkpointFile is the name of the file of the checkpoint of size n.
func checkpointFile(n uint64) string { return "checkpoint." + strconv.FormatUint(n, 10) }

// writeFile writes data to path atomically (a temporary file renamed).
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("transparency: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("transparency: %w", err)
	}
	return nil
}

// IntegrateTo runs an integrator on store until the stored tree has at
// least n leaves, then stops it: for tools and tests that need the tree
// grown to a known size without running it for good. It waits for the lock
// like any integrator.
func IntegrateTo(ctx context.Context, store *eventstore.Store, n uint64, logger *slog.Logger) error {
	in, err := NewIntegrator(IntegratorConfig{Store: store, Logger: logger, BatchInterval: -1, LockRetryInterval: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(runCtx) }()
	err = WaitSize(ctx, store.Pool(), n, 5*time.Millisecond)
	stop()
	return errors.Join(err, <-done)
}
