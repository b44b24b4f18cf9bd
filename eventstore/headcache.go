package eventstore

import (
	"crypto/sha256"
	"hash/maphash"
	"sync"
)

// headCache remembers the heads of streams this store wrote, so that most
// appends need not read them. It is only a guess: the unique keys of the
// events table catch a stale entry.
//
// The cache holds no Go pointers: a stream is keyed by a 128-bit hash of its
// id (two 64-bit maphash values with seeds of this process, so nobody can
// choose ids that collide), its type is an index into a small table, and its
// last hash is stored inline. A full cache is 100,000 entries; with strings
// and slices in them the garbage collector visited every one on every
// cycle, which at the append rates of group commit was about a fifth of the
// store's CPU in the Go process.
type headCache struct {
	mu    sync.Mutex
	m     map[streamKey]cachedHead
	seeds [2]maphash.Seed
	types []string          // stream types by index
	index map[string]uint32 // the inverse of types
}

// cachedHead is a streamHead without pointers.
type cachedHead struct {
	typ     uint32
	version int64
	hash    [sha256.Size]byte
}

// maxCachedHeads bounds the cache; when it is full it starts again empty.
const maxCachedHeads = 100_000

// maxCachedTypes bounds the table of stream types; the cache starts again
// empty when a new type would pass it.
const maxCachedTypes = 1000

// streamKey identifies a stream in the cache.
type streamKey [2]uint64

func (c *headCache) key(id string) streamKey {
	return streamKey{maphash.String(c.seeds[0], id), maphash.String(c.seeds[1], id)}
}

// lookup returns the cached heads of the batch's streams, copied so that
// planning may advance them.
func (c *headCache) lookup(batch []*appendRequest) map[string]*streamHead {
	c.mu.Lock()
	defer c.mu.Unlock()
	heads := make(map[string]*streamHead)
	if c.m == nil {
		return heads // nothing stored yet, and no seeds
	}
	for _, r := range batch {
		for _, sa := range r.streams {
			if h, ok := c.m[c.key(sa.StreamID)]; ok {
				heads[sa.StreamID] = &streamHead{streamType: c.types[h.typ], version: h.version, hash: h.hash[:]}
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
		c.reset()
	}
	for _, r := range recs {
		h := heads[r.StreamID]
		if len(h.hash) != sha256.Size {
			continue // not a hash this cache can hold: read the head when needed
		}
		key := c.key(r.StreamID)
		if h.version <= c.m[key].version {
			continue
		}
		typ, ok := c.index[h.streamType]
		if !ok {
			if len(c.types) == maxCachedTypes {
				c.reset()
			}
			typ = uint32(len(c.types))
			c.types = append(c.types, h.streamType)
			c.index[h.streamType] = typ
		}
		e := cachedHead{typ: typ, version: h.version}
		copy(e.hash[:], h.hash)
		c.m[key] = e
	}
}

func (c *headCache) reset() {
	if c.m == nil {
		c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	}
	c.m = make(map[streamKey]cachedHead)
	c.types, c.index = nil, make(map[string]uint32)
}

// forget drops the batch's streams, whose heads may have been guessed wrong.
func (c *headCache) forget(batch []*appendRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		return
	}
	eachStream(batch, func(id string) { delete(c.m, c.key(id)) })
}
