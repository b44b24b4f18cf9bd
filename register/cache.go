package register

import (
	"context"
	"fmt"
	"sync"

	"github.com/riskreg/riskreg/domain"
)

// snapshots remembers the aggregates this service last wrote, so that a
// command on one of them need not read its stream first. Like every guess it
// is checked: a command whose expected version differs from the snapshot's
// reads the stream after all, and the store refuses an append to a stream
// that moved on (another process wrote it), which answers as a stale error.
// Queries never read snapshots.
type snapshots struct {
	mu sync.Mutex
	m  map[string]any // folded[A] by aggregate id
}

// maxSnapshots bounds the cache; when it is full it starts again empty.
const maxSnapshots = 10_000

func (c *snapshots) get(id string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[id]
	return f, ok
}

func (c *snapshots) put(id string, f any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSnapshots {
		c.m = make(map[string]any)
	}
	c.m[id] = f
}

func (c *snapshots) forget(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.m, id)
	}
}

// current returns the aggregate as the snapshot has it, copied so that the
// caller may apply events to it, or else as folded from its stream.
func current[A aggregate](ctx context.Context, s *Service, streamType, id string,
	fromHistory func(string, []domain.Event) (A, error),
) (f folded[A], cached bool, err error) {
	if v, ok := s.snapshots.get(id); ok {
		if f, ok := v.(folded[A]); ok {
			f.agg = clone(f.agg)
			return f, true, nil
		}
	}
	f, err = load(ctx, s, streamType, id, AsOf{}, fromHistory)
	return f, false, err
}

// clone copies a Risk or a StrategicResponse: they hold no references, so a
// copy of the struct is a copy of the state.
func clone[A any](a A) A {
	switch v := any(a).(type) {
	case *domain.Risk:
		c := *v
		return any(&c).(A)
	case *domain.StrategicResponse:
		c := *v
		return any(&c).(A)
	case *domain.Session:
		return any(v.Clone()).(A)
	}
	panic(fmt.Sprintf("register: cannot copy a %T", a))
}
