package workload

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/riskreg/riskreg/eventstore"
)

// Concurrent is a workload appended from several goroutines at once, so
// that appends to different streams commit interleaved and, now and then,
// out of the order of their transactions, as on a busy register. Each
// goroutine has a Workload of its own (its own risks, responses and
// decisions, so its appends never conflict with another's); the risks'
// references are unique across all of them.
type Concurrent struct {
	// Workers is the number of goroutines appending (at least one).
	Workers int
	// Cycles is the number of governance cycles (Workload.Cycle) in all,
	// taken by whichever goroutine is free.
	Cycles int
	// Steps is the number of random commands (Workload.Step) a goroutine
	// runs after each of its cycles.
	Steps int
	// Seed seeds the goroutines' random choices, each its own.
	Seed uint64
	// V1Assessments is each goroutine's Workload.V1Assessments.
	V1Assessments bool
}

// Run appends the workload to store and returns the first error, after
// every goroutine stopped.
func (c Concurrent) Run(ctx context.Context, store *eventstore.Store) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	refs := new(atomic.Int64)
	var wg sync.WaitGroup
	next := make(chan int)
	for i := range max(c.Workers, 1) {
		w := newWorkload(c.Seed+uint64(i), StoreSink(store, nil), refs)
		w.V1Assessments = c.V1Assessments
		wg.Go(func() {
			for cycle := range next {
				if err := w.run(ctx, c.Steps); err != nil {
					cancel(fmt.Errorf("workload: cycle %d: %w", cycle, err))
					return
				}
			}
		})
	}
	func() {
		defer close(next)
		for cycle := range c.Cycles {
			select {
			case next <- cycle:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	return context.Cause(ctx)
}

// run runs a cycle and steps random commands.
func (w *Workload) run(ctx context.Context, steps int) error {
	if err := w.Cycle(ctx); err != nil {
		return err
	}
	for range steps {
		if err := w.Step(ctx); err != nil {
			return err
		}
	}
	return nil
}
