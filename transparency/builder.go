package transparency

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"

	"github.com/riskreg/riskreg/eventstore"
)

// builder grows the tree leaf by leaf in memory: the compact range of the
// tree and the tiles on its right edge. Tiles it changed are written by
// commit, all at once.
type builder struct {
	rng   *compact.Range
	edge  map[int]*tileBuf // level -> the tile being filled
	dirty map[tileKey]*tileBuf
	last  string // position of the last leaf's event
	buf   []byte
}

// tileBuf is a tile being built.
type tileBuf struct {
	key    tileKey
	hashes []byte
	after  string // level 0: position before the first leaf
}

// loadBuilder reads the stored tree of size at position pos.
func loadBuilder(ctx context.Context, db queryer, size uint64, pos eventstore.Position) (*builder, error) {
	rng, err := rangeAt(ctx, db, nil, size)
	if err != nil {
		return nil, err
	}
	b := &builder{rng: rng, edge: make(map[int]*tileBuf), dirty: make(map[tileKey]*tileBuf), last: pos.String()}
	var needs []tileNeed
	for level := 0; size>>(TileHeight*level) > 0; level++ {
		hashes := size >> (TileHeight * level)
		if hashes%tileWidth != 0 {
			needs = append(needs, tileNeed{tileKey{level, int64(hashes / tileWidth)}, int(hashes % tileWidth)})
		}
	}
	stored, err := readTiles(ctx, db, nil, needs)
	if err != nil {
		return nil, err
	}
	for _, need := range needs {
		k := need.key
		st, ok := stored[k]
		want := int(size>>(TileHeight*k.level)) % tileWidth
		if !ok || len(st.hashes) < want*sha256.Size {
			return nil, fmt.Errorf("transparency: the stored tree of size %d lacks tile %d/%d", size, k.level, k.n)
		}
		b.edge[k.level] = &tileBuf{key: k, hashes: append([]byte(nil), st.hashes[:want*sha256.Size]...), after: st.after}
	}
	return b, nil
}

// size returns the number of leaves.
func (b *builder) size() uint64 { return b.rng.End() }

// add appends event e as the next leaf.
func (b *builder) add(e *eventstore.RecordedEvent) {
	index := b.rng.End()
	var leaf []byte
	leaf, b.buf = leafHashOf(b.buf, index, e)
	if index%tileWidth == 0 {
		k := tileKey{0, int64(index / tileWidth)}
		t := &tileBuf{key: k, hashes: make([]byte, 0, tileWidth*sha256.Size), after: b.last}
		b.edge[0] = t
	}
	_ = b.rng.Append(leaf, b.visit) // cannot fail on a range built by this package
	b.last = e.Position.String()
}

// visit records a node of the tree that became complete: nodes at levels
// that are multiples of TileHeight are the hashes tiles store.
func (b *builder) visit(id compact.NodeID, hash []byte) {
	if id.Level%TileHeight != 0 {
		return
	}
	level := int(id.Level / TileHeight)
	k := tileKey{level, int64(id.Index / tileWidth)}
	t := b.edge[level]
	if t == nil || t.key != k {
		t = &tileBuf{key: k, hashes: make([]byte, 0, tileWidth*sha256.Size)}
		b.edge[level] = t
	}
	t.hashes = append(t.hashes, hash...)
	b.dirty[k] = t
}

// root returns the tree's root hash.
func (b *builder) root() []byte { return rootOf(b.rng) }

// errFenced means that the stored tree is not the one this builder grew
// from: another integrator moved it.
var errFenced = fmt.Errorf("transparency: the stored tree moved on under this integrator")

// commit writes the changed tiles, the tree's size and root and the log
// checkpoint in tx, after checking that the stored tree is still of size
// from.
func (b *builder) commit(ctx context.Context, tx pgx.Tx, from uint64, checkpoint string) error {
	var stored int64
	if err := tx.QueryRow(ctx, "SELECT size FROM log_tree FOR UPDATE").Scan(&stored); err != nil {
		return fmt.Errorf("transparency: read the tree: %w", err)
	}
	if uint64(stored) != from {
		return fmt.Errorf("%w: it has %d leaves, this integrator grew from %d", errFenced, stored, from)
	}
	n := len(b.dirty)
	levels, ns, widths := make([]int16, 0, n), make([]int64, 0, n), make([]int16, 0, n)
	hashes, afters := make([][]byte, 0, n), make([]*string, 0, n)
	for k, t := range b.dirty {
		levels, ns = append(levels, int16(k.level)), append(ns, k.n)
		widths, hashes = append(widths, int16(len(t.hashes)/sha256.Size)), append(hashes, t.hashes)
		var after *string
		if k.level == 0 {
			after = &t.after
		}
		afters = append(afters, after)
	}
	// A tile only ever widens, and the hashes it had stay as they were.
	tag, err := tx.Exec(ctx, `INSERT INTO log_tiles (level, n, width, hashes, after_pos)
		SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[], $5::text[])
		ON CONFLICT (level, n) DO UPDATE SET width = EXCLUDED.width, hashes = EXCLUDED.hashes
		WHERE log_tiles.width <= EXCLUDED.width
		  AND substring(EXCLUDED.hashes FROM 1 FOR length(log_tiles.hashes)) = log_tiles.hashes`,
		levels, ns, widths, hashes, afters)
	if err != nil {
		return fmt.Errorf("transparency: write tiles: %w", err)
	}
	if int(tag.RowsAffected()) != n {
		return fmt.Errorf("%w: a stored tile disagrees with the tree grown from the log", errFenced)
	}
	if _, err := tx.Exec(ctx, "UPDATE log_tree SET size = $1, root = $2, updated_at = clock_timestamp()",
		int64(b.size()), b.root()); err != nil {
		return fmt.Errorf("transparency: write the tree: %w", err)
	}
	pos, err := eventstore.ParsePosition(b.last)
	if err != nil {
		return err
	}
	return eventstore.SaveCheckpoint(ctx, tx, checkpoint, pos)
}

// committed forgets the tiles commit wrote, keeping the right edge.
func (b *builder) committed() {
	clear(b.dirty)
	for level, t := range b.edge {
		if len(t.hashes) == tileWidth*sha256.Size {
			delete(b.edge, level)
		}
	}
}
