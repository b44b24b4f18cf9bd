package transparency

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of the tiles (C2SP tlog-tiles fixes it at 8).
const TileHeight = 8

// tileWidth is the number of hashes in a full tile.
const tileWidth = 1 << TileHeight

// hasher is the RFC 6962 hasher with SHA-256.
var hasher = rfc6962.DefaultHasher

// rangeFactory builds compact ranges with hasher.
var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// emptyRoot is the root hash of the empty tree: SHA-256 of nothing.
var emptyRoot = func() []byte { h := sha256.Sum256(nil); return h[:] }()

// ErrNotFound means that what was asked for is not in the tree (yet).
var ErrNotFound = errors.New("transparency: not found")

// tileKey names a tile: its level and number.
type tileKey struct {
	level int
	n     int64
}

// queryer is what reads tiles: a pool, a connection or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// storedTile is a tile as stored: its hashes (width*32 bytes).
type storedTile struct {
	hashes []byte
	after  string
}

// tileCache keeps tiles read, so that proofs over a large tree read few rows.
// A stored tile only ever widens and its hashes never change, so a cached
// tile answers every read of a width it has. It holds at most tileCacheSize
// tiles.
type tileCache struct {
	mu    sync.Mutex
	tiles map[tileKey][]byte
}

const tileCacheSize = 2048 // 16 MiB of tiles at most

// get returns the cached tile k if it has at least width hashes.
func (c *tileCache) get(k tileKey, width int) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.tiles[k]
	return b, ok && len(b) >= width*sha256.Size
}

func (c *tileCache) put(k tileKey, b []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tiles == nil || len(c.tiles) >= tileCacheSize {
		c.tiles = make(map[tileKey][]byte) // start over: simple, and bounded
	}
	if len(b) > len(c.tiles[k]) {
		c.tiles[k] = b
	}
}

// tileNeed is a tile to read and the least width wanted of it.
type tileNeed struct {
	key   tileKey
	width int
}

// readTiles returns the stored tiles among needs; a tile not stored is left
// out. A cached tile of the width needed is not read again.
func readTiles(ctx context.Context, db queryer, cache *tileCache, needs []tileNeed) (map[tileKey]storedTile, error) {
	out := make(map[tileKey]storedTile, len(needs))
	var levels []int16
	var ns []int64
	for _, need := range needs {
		k := need.key
		if b, ok := cache.get(k, need.width); ok {
			out[k] = storedTile{hashes: b}
			continue
		}
		levels = append(levels, int16(k.level))
		ns = append(ns, k.n)
	}
	if len(levels) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT t.level, t.n, t.hashes, COALESCE(t.after_pos, '') FROM log_tiles t
		JOIN unnest($1::smallint[], $2::bigint[]) AS k(level, n) ON t.level = k.level AND t.n = k.n`, levels, ns)
	if err != nil {
		return nil, fmt.Errorf("transparency: read tiles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level int16
		var t storedTile
		var k tileKey
		if err := rows.Scan(&level, &k.n, &t.hashes, &t.after); err != nil {
			return nil, fmt.Errorf("transparency: read tiles: %w", err)
		}
		k.level = int(level)
		out[k] = t
		cache.put(k, t.hashes)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transparency: read tiles: %w", err)
	}
	return out, nil
}

// nodeHashes returns the hashes of complete subtrees ids from the stored
// tiles, in one query.
func nodeHashes(ctx context.Context, db queryer, cache *tileCache, ids []compact.NodeID) ([][]byte, error) {
	idx := make([]int64, len(ids))
	tiles := make([]tlog.Tile, len(ids))
	var needs []tileNeed
	seen := make(map[tileKey]int)
	for i, id := range ids {
		idx[i] = tlog.StoredHashIndex(int(id.Level), int64(id.Index))
		tiles[i] = tlog.TileForIndex(TileHeight, idx[i])
		k := tileKey{tiles[i].L, tiles[i].N}
		j, ok := seen[k]
		if !ok {
			j = len(needs)
			seen[k] = j
			needs = append(needs, tileNeed{key: k})
		}
		needs[j].width = max(needs[j].width, tiles[i].W)
	}
	stored, err := readTiles(ctx, db, cache, needs)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, t := range tiles {
		st, ok := stored[tileKey{t.L, t.N}]
		w := len(st.hashes) / sha256.Size
		if !ok || w < t.W {
			return nil, fmt.Errorf("%w: node %d/%d is not in the stored tree", ErrNotFound, ids[i].Level, ids[i].Index)
		}
		t.W = w
		h, err := tlog.HashFromTile(t, st.hashes, idx[i])
		if err != nil {
			return nil, fmt.Errorf("transparency: %w", err)
		}
		out[i] = h[:]
	}
	return out, nil
}

// rangeAt returns the compact range [0, size) of the stored tree.
func rangeAt(ctx context.Context, db queryer, cache *tileCache, size uint64) (*compact.Range, error) {
	if size == 0 {
		return rangeFactory.NewEmptyRange(0), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := nodeHashes(ctx, db, cache, ids)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("transparency: %w", err)
	}
	return r, nil
}

// rootOf returns the root hash of compact range r, which begins at 0.
func rootOf(r *compact.Range) []byte {
	if r.End() == 0 {
		return emptyRoot
	}
	root, _ := r.GetRootHash(nil) // cannot fail for a range that begins at 0
	return root
}
