package projection

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/riskreg/riskreg/eventstore"
)

// OwnWritesTimeout bounds how long CatchUpOwnWrites and LogShowsOwnWrites
// wait.
const OwnWritesTimeout = 5 * time.Second

// CatchUpOwnWrites waits until the read models reflect every event this
// process appended before the call (the store's LastAppended), so that a
// client never misses its own write in a list. It waits at most
// OwnWritesTimeout; its error (the read models are failing or slow) leaves
// the read models as they are, to be read all the same. The furthest
// position seen reached is remembered, so that reads after it do not wait.
func (r *Reader) CatchUpOwnWrites(ctx context.Context) error {
	return r.ownWrites.wait(ctx, r.store.LastAppended(), func(ctx context.Context, pos eventstore.Position) error {
		return r.WaitFor(ctx, pos)
	})
}

// LogShowsOwnWrites waits until the global log shows every event this
// process appended before the call (see eventstore.Store.WaitVisible), as
// CatchUpOwnWrites waits for the read models.
func (r *Reader) LogShowsOwnWrites(ctx context.Context) error {
	return r.logWrites.wait(ctx, r.store.LastAppended(), r.store.WaitVisible)
}

// mark remembers the furthest position something was seen to reach.
type mark struct {
	mu  sync.Mutex
	pos eventstore.Position
}

// wait returns once pos is reached: at once when it was seen reached
// before, else when waitFor returns, within OwnWritesTimeout.
func (m *mark) wait(ctx context.Context, pos eventstore.Position, waitFor func(context.Context, eventstore.Position) error) error {
	m.mu.Lock()
	reached := pos.Compare(m.pos) <= 0
	m.mu.Unlock()
	if reached {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, OwnWritesTimeout)
	defer cancel()
	if err := waitFor(wctx, pos); err != nil {
		return fmt.Errorf("projection: waiting for position %s: %w", pos, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pos.Compare(m.pos) > 0 {
		m.pos = pos
	}
	return nil
}
