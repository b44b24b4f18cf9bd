package eventstore

import "sync"

// headCache remembers the heads of streams this store wrote, so that most
// appends need not read them. It is only a guess: the unique keys of the
// events table catch a stale entry.
type headCache struct {
	mu sync.Mutex
	m  map[string]streamHead
}

// maxCachedHeads bounds the cache; when it is full it starts again empty.
const maxCachedHeads = 100_000

// lookup returns the cached heads of the batch's streams, copied so that
// planning may advance them.
func (c *headCache) lookup(batch []*appendRequest) map[string]*streamHead {
	c.mu.Lock()
	defer c.mu.Unlock()
	heads := make(map[string]*streamHead)
	for _, r := range batch {
		for _, sa := range r.streams {
			if h, ok := c.m[sa.StreamID]; ok {
				heads[sa.StreamID] = &h
			}
		}
	}
	return heads
}

// store caches the heads of the streams the committed events touched.
func (c *headCache) store(recs []*RecordedEvent, heads map[string]*streamHead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > maxCachedHeads {
		c.m = make(map[string]streamHead)
	}
	for _, r := range recs {
		if h := heads[r.StreamID]; h.version > c.m[r.StreamID].version {
			c.m[r.StreamID] = *h
		}
	}
}

// forget drops the batch's streams, whose heads may have been guessed wrong.
func (c *headCache) forget(batch []*appendRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	eachStream(batch, func(id string) { delete(c.m, id) })
}
