package transparency

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/riskreg/riskreg/eventstore"
)

// ErrOutOfRange means that a proof was asked for a tree size or leaf the
// tree does not have.
var ErrOutOfRange = errors.New("transparency: out of range")

// Log reads the stored tree: checkpoints, tiles and proofs.
type Log struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
	cache *tileCache
	// seen is the largest tree size read: the tree only grows, so a proof
	// for a size up to it needs no look at log_tree.
	seen atomic.Uint64
}

// NewLog returns a Log over store's database.
func NewLog(store *eventstore.Store) *Log {
	return &Log{store: store, pool: store.Pool(), cache: &tileCache{}}
}

// Tree returns the size and root hash of the stored tree.
func (l *Log) Tree(ctx context.Context) (uint64, []byte, error) {
	var size int64
	var root []byte
	if err := l.pool.QueryRow(ctx, "SELECT size, root FROM log_tree").Scan(&size, &root); err != nil {
		return 0, nil, fmt.Errorf("transparency: read the tree: %w", err)
	}
	l.saw(uint64(size))
	return uint64(size), root, nil
}

// saw records that the tree has size leaves.
func (l *Log) saw(size uint64) {
	for seen := l.seen.Load(); size > seen && !l.seen.CompareAndSwap(seen, size); seen = l.seen.Load() {
	}
}

// LatestCheckpoint returns the checkpoint of the largest tree signed, or nil
// when none was.
func (l *Log) LatestCheckpoint(ctx context.Context) (*StoredCheckpoint, error) {
	return l.checkpoint(ctx, `ORDER BY size DESC, id DESC LIMIT 1`)
}

// CheckpointCovering returns the smallest signed checkpoint whose tree holds
// every event up to position pos, or nil when none was signed yet. A
// document made from the log as of pos names it, so that an auditor can tie
// the document to the history; once one exists the answer never changes.
func (l *Log) CheckpointCovering(ctx context.Context, pos eventstore.Position) (*StoredCheckpoint, error) {
	var signed bool
	if err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM log_checkpoints)`).Scan(&signed); err != nil {
		return nil, fmt.Errorf("transparency: read checkpoint: %w", err)
	}
	if !signed {
		return nil, nil
	}
	// The events up to pos: 256 per tile before the last tile that starts
	// at or before pos, plus those counted from that tile's start, so that
	// the count costs a tile, not the log.
	var tiles int64
	var after string
	err := l.pool.QueryRow(ctx, `SELECT n, after_pos FROM log_tiles WHERE level = 0 AND after_pos < $1
		ORDER BY after_pos DESC LIMIT 1`, pos.String()).Scan(&tiles, &after)
	if errors.Is(err, pgx.ErrNoRows) {
		tiles, after = 0, ""
	} else if err != nil {
		return nil, fmt.Errorf("transparency: find leaf: %w", err)
	}
	start := eventstore.Position{}
	if after != "" {
		if start, err = eventstore.ParsePosition(after); err != nil {
			return nil, err
		}
	}
	k, err := l.store.CountBetween(ctx, start, pos)
	if err != nil {
		return nil, err
	}
	return l.checkpoint(ctx, `WHERE size >= $1 ORDER BY size, id LIMIT 1`, tiles*tileWidth+k)
}

// checkpoint returns the stored checkpoint that the SQL clause rest picks,
// or nil when there is none.
func (l *Log) checkpoint(ctx context.Context, rest string, args ...any) (*StoredCheckpoint, error) {
	var c StoredCheckpoint
	var size int64
	var text string
	err := l.pool.QueryRow(ctx, `SELECT id, origin, size, root, note, verifier, signed_at FROM log_checkpoints `+rest, args...).
		Scan(&c.ID, &c.Origin, &size, &c.Root, &text, &c.Verifier, &c.SignedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("transparency: read checkpoint: %w", err)
	}
	c.Size, c.Note = uint64(size), []byte(text)
	return &c, nil
}

// proofSize returns the tree size a proof is for: size when not 0, else the
// latest checkpoint's, else the stored tree's. It must not exceed the stored
// tree. It reads both in one query: a proof is a few short queries, and
// each round trip shows in its latency.
func (l *Log) proofSize(ctx context.Context, size uint64) (uint64, error) {
	if size != 0 && size <= l.seen.Load() {
		return size, nil
	}
	var stored int64
	var signed *int64
	err := l.pool.QueryRow(ctx, `SELECT t.size, (SELECT c.size FROM log_checkpoints c ORDER BY c.size DESC, c.id DESC LIMIT 1)
		FROM log_tree t`).Scan(&stored, &signed)
	if err != nil {
		return 0, fmt.Errorf("transparency: read the tree: %w", err)
	}
	l.saw(uint64(stored))
	if size == 0 {
		size = uint64(stored)
		if signed != nil && *signed <= stored {
			size = uint64(*signed)
		}
	}
	if size > uint64(stored) {
		return 0, fmt.Errorf("%w: the tree has %d leaves, not %d", ErrOutOfRange, stored, size)
	}
	return size, nil
}

// InclusionProof proves that an entry is leaf LeafIndex of the tree of
// TreeSize leaves whose root is Root (RFC 6962 audit path).
type InclusionProof struct {
	LeafIndex uint64
	TreeSize  uint64
	Entry     []byte // the encoded entry (see Entry.Encode)
	LeafHash  []byte
	Hashes    [][]byte
	Root      []byte
}

// Verify checks the proof with the merkle library's verifier, and that the
// leaf hash is the entry's.
func (p InclusionProof) Verify() error {
	if p.Entry != nil && string(LeafHash(p.Entry)) != string(p.LeafHash) {
		return errors.New("transparency: the leaf hash is not the entry's")
	}
	if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, p.LeafHash, p.Hashes, p.Root); err != nil {
		return fmt.Errorf("transparency: inclusion proof of leaf %d in tree %d: %w", p.LeafIndex, p.TreeSize, err)
	}
	return nil
}

// ConsistencyProof proves that the tree of FromSize leaves is a prefix of
// the tree of ToSize leaves (RFC 6962 consistency proof).
type ConsistencyProof struct {
	FromSize, ToSize uint64
	FromRoot, ToRoot []byte
	Hashes           [][]byte
}

// Verify checks the proof with the merkle library's verifier.
func (p ConsistencyProof) Verify() error {
	if err := proof.VerifyConsistency(hasher, p.FromSize, p.ToSize, p.Hashes, p.FromRoot, p.ToRoot); err != nil {
		return fmt.Errorf("transparency: consistency proof from %d to %d: %w", p.FromSize, p.ToSize, err)
	}
	return nil
}

// Inclusion returns the proof that leaf index is in the tree of size leaves
// (0: see proofSize). The entry is left out.
func (l *Log) Inclusion(ctx context.Context, index, size uint64) (InclusionProof, error) {
	size, err := l.proofSize(ctx, size)
	if err != nil {
		return InclusionProof{}, err
	}
	return l.inclusion(ctx, index, size)
}

func (l *Log) inclusion(ctx context.Context, index, size uint64) (InclusionProof, error) {
	if index >= size {
		return InclusionProof{}, fmt.Errorf("%w: leaf %d is not in a tree of %d leaves", ErrOutOfRange, index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("transparency: %w", err)
	}
	rootIDs := compact.RangeNodes(0, size, nil)
	ids := append(append([]compact.NodeID{compact.NewNodeID(0, index)}, rootIDs...), nodes.IDs...)
	hashes, err := nodeHashes(ctx, l.pool, l.cache, ids)
	if err != nil {
		return InclusionProof{}, err
	}
	rng, err := rangeFactory.NewRange(0, size, hashes[1:1+len(rootIDs)])
	if err != nil {
		return InclusionProof{}, fmt.Errorf("transparency: %w", err)
	}
	path, err := nodes.Rehash(hashes[1+len(rootIDs):], hasher.HashChildren)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("transparency: %w", err)
	}
	return InclusionProof{LeafIndex: index, TreeSize: size, LeafHash: hashes[0], Hashes: path, Root: rootOf(rng)}, nil
}

// Consistency returns the proof that the tree of from leaves is a prefix of
// the tree of to leaves (0: see proofSize).
func (l *Log) Consistency(ctx context.Context, from, to uint64) (ConsistencyProof, error) {
	to, err := l.proofSize(ctx, to)
	if err != nil {
		return ConsistencyProof{}, err
	}
	if from > to {
		return ConsistencyProof{}, fmt.Errorf("%w: from size %d is larger than to size %d", ErrOutOfRange, from, to)
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("transparency: %w", err)
	}
	fromIDs := compact.RangeNodes(0, from, nil)
	toIDs := compact.RangeNodes(0, to, nil)
	ids := append(append(append([]compact.NodeID(nil), fromIDs...), toIDs...), nodes.IDs...)
	hashes, err := nodeHashes(ctx, l.pool, l.cache, ids)
	if err != nil {
		return ConsistencyProof{}, err
	}
	fromRng, err := rangeFactory.NewRange(0, from, hashes[:len(fromIDs)])
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("transparency: %w", err)
	}
	toRng, err := rangeFactory.NewRange(0, to, hashes[len(fromIDs):len(fromIDs)+len(toIDs)])
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("transparency: %w", err)
	}
	path, err := nodes.Rehash(hashes[len(fromIDs)+len(toIDs):], hasher.HashChildren)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("transparency: %w", err)
	}
	return ConsistencyProof{FromSize: from, ToSize: to, FromRoot: rootOf(fromRng), ToRoot: rootOf(toRng), Hashes: path}, nil
}

// EventInclusion returns the proof that event id is in the tree of size
// leaves (0: see proofSize), with its entry.
func (l *Log) EventInclusion(ctx context.Context, id uuid.UUID, size uint64) (InclusionProof, eventstore.RecordedEvent, error) {
	size, err := l.proofSize(ctx, size)
	if err != nil {
		return InclusionProof{}, eventstore.RecordedEvent{}, err
	}
	index, e, err := l.LeafIndex(ctx, id)
	if err != nil {
		return InclusionProof{}, e, err
	}
	p, err := l.inclusion(ctx, index, size)
	if err != nil {
		return InclusionProof{}, e, err
	}
	p.Entry = EntryOf(index, &e).Encode()
	return p, e, nil
}

// LeafIndex returns the leaf of event id, and the event. An event not yet
// integrated is ErrNotFound.
func (l *Log) LeafIndex(ctx context.Context, id uuid.UUID) (uint64, eventstore.RecordedEvent, error) {
	found, err := l.store.EventsByID(ctx, []uuid.UUID{id})
	if err != nil {
		return 0, eventstore.RecordedEvent{}, err
	}
	if len(found) == 0 {
		return 0, eventstore.RecordedEvent{}, fmt.Errorf("%w: no event %s", ErrNotFound, id)
	}
	pos := found[0].Position.String()
	var n int64
	var after string
	err = l.pool.QueryRow(ctx, `SELECT n, after_pos FROM log_tiles WHERE level = 0 AND after_pos < $1
		ORDER BY after_pos DESC LIMIT 1`, pos).Scan(&n, &after)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, found[0], fmt.Errorf("%w: event %s is not in the tree yet", ErrNotFound, id)
	}
	if err != nil {
		return 0, found[0], fmt.Errorf("transparency: find leaf: %w", err)
	}
	start, err := eventstore.ParsePosition(after)
	if err != nil {
		return 0, found[0], err
	}
	k, err := l.store.CountBetween(ctx, start, found[0].Position)
	if err != nil {
		return 0, found[0], err
	}
	index := uint64(n)*tileWidth + uint64(k) - 1
	if k < 1 || k > tileWidth {
		return 0, found[0], fmt.Errorf("%w: event %s is not in the tree yet", ErrNotFound, id)
	}
	if index >= l.seen.Load() {
		size, _, err := l.Tree(ctx)
		if err != nil {
			return 0, found[0], err
		}
		if index >= size {
			return 0, found[0], fmt.Errorf("%w: event %s is not in the tree yet", ErrNotFound, id)
		}
	}
	return index, found[0], nil
}

// Tile returns the hashes of tile (level, n) of width hashes (C2SP
// tlog-tiles); ErrNotFound when the tree has not that many yet.
func (l *Log) Tile(ctx context.Context, level int, n int64, width int) ([]byte, error) {
	k := tileKey{level, n}
	tiles, err := readTiles(ctx, l.pool, l.cache, []tileNeed{{k, width}})
	if err != nil {
		return nil, err
	}
	t, ok := tiles[k]
	if !ok || len(t.hashes) < width*sha256.Size {
		return nil, fmt.Errorf("%w: tile %d/%d of width %d", ErrNotFound, level, n, width)
	}
	return t.hashes[:width*sha256.Size], nil
}

// EntryBundle returns entries n*256 to n*256+width-1 as a C2SP tlog-tiles
// entry bundle: each entry as a big-endian uint16 length and its bytes.
func (l *Log) EntryBundle(ctx context.Context, n int64, width int) ([]byte, error) {
	k := tileKey{0, n}
	tiles, err := readTiles(ctx, l.pool, nil, []tileNeed{{k, width}})
	if err != nil {
		return nil, err
	}
	t, ok := tiles[k]
	if !ok || len(t.hashes) < width*sha256.Size {
		return nil, fmt.Errorf("%w: entry bundle %d of width %d", ErrNotFound, n, width)
	}
	start, err := eventstore.ParsePosition(t.after)
	if err != nil {
		return nil, err
	}
	events, err := l.store.ReadAll(ctx, start, width, eventstore.Filter{})
	if err != nil {
		return nil, err
	}
	if len(events) < width {
		return nil, fmt.Errorf("%w: entry bundle %d: the log has fewer events than the tree", ErrNotFound, n)
	}
	var out []byte
	for i := range events {
		e := EntryOf(uint64(n)*tileWidth+uint64(i), &events[i]).Encode()
		out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
		out = append(out, e...)
	}
	return out, nil
}
