package transparency

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/note"

	"github.com/riskreg/riskreg/eventstore"
)

// Problem is one thing Verify found wrong. Leaf is the leaf index it is
// about, or -1; StreamID and Version name the event when there is one.
type Problem struct {
	Leaf     int64
	StreamID string
	Version  int64
	Reason   string
}

// String returns the problem on one line, naming the leaf, stream and
// version it is about.
func (p Problem) String() string {
	switch {
	case p.Leaf >= 0 && p.StreamID != "":
		return fmt.Sprintf("leaf %d (stream %s version %d): %s", p.Leaf, p.StreamID, p.Version, p.Reason)
	case p.Leaf >= 0:
		return fmt.Sprintf("leaf %d: %s", p.Leaf, p.Reason)
	case p.StreamID != "":
		return fmt.Sprintf("stream %s version %d: %s", p.StreamID, p.Version, p.Reason)
	}
	return p.Reason
}

// HeldCheckpoint is a signed checkpoint held outside the database, and
// where it came from (a file name), for the report.
type HeldCheckpoint struct {
	Name string
	Note []byte
}

// VerifyOptions says what Verify checks the log against.
type VerifyOptions struct {
	// Held are checkpoints an auditor or witness kept; Verifier checks
	// their signatures (required with Held).
	Held     []HeldCheckpoint
	Verifier note.Verifier
	// Stored also checks the log against every checkpoint riskreg stored
	// itself, each with Verifier when it has the key's name, else with the
	// verifier key stored next to it.
	Stored bool
}

// Report is the outcome of Verify.
type Report struct {
	Leaves      uint64 // events in the log, recomputed as leaves
	TreeSize    uint64 // leaves in the stored tree
	Checkpoints int    // checkpoints checked
	// Latest is the largest stored checkpoint whose signature verified.
	Latest   *StoredCheckpoint
	Problems []Problem
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// target is a checkpoint to check the recomputed tree against.
type target struct {
	name string
	size uint64
	root []byte
}

// maxLeafProblems caps the leaves reported one by one as differing from the
// stored tree; the rest are counted.
const maxLeafProblems = 20

// Verify checks the Merkle log: the signatures of the checkpoints; that the
// leaves recomputed from the events themselves (never from stored hashes)
// hash to each checkpoint's root; that the stored tree equals the tree
// recomputed at its size and is consistent with every checkpoint; and that
// every stream's versions follow each other in the global order. It does not
// recompute the per-stream hash chain: eventstore's Verify does.
func Verify(ctx context.Context, store *eventstore.Store, opts VerifyOptions) (Report, error) {
	var rep Report
	problem := func(leaf int64, e *eventstore.RecordedEvent, format string, args ...any) {
		p := Problem{Leaf: leaf, Reason: fmt.Sprintf(format, args...)}
		if e != nil {
			p.StreamID, p.Version = e.StreamID, e.Version
		}
		rep.Problems = append(rep.Problems, p)
	}
	var targets []target
	for _, h := range opts.Held {
		if opts.Verifier == nil {
			return Report{}, fmt.Errorf("transparency: a verifier key is needed to check checkpoint %s", h.Name)
		}
		cp, err := OpenCheckpoint(h.Note, opts.Verifier)
		if err != nil {
			problem(-1, nil, "checkpoint %s: %v", h.Name, err)
			continue
		}
		rep.Checkpoints++
		targets = append(targets, target{name: fmt.Sprintf("checkpoint %s (size %d)", h.Name, cp.Size), size: cp.Size, root: cp.Root})
	}
	log := NewLog(store)
	if opts.Stored {
		stored, err := StoredCheckpoints(ctx, store.Pool())
		if err != nil {
			return Report{}, err
		}
		for _, sc := range stored {
			v := opts.Verifier
			if v == nil || v.Name() != sc.Origin {
				if v, err = note.NewVerifier(sc.Verifier); err != nil {
					problem(-1, nil, "stored checkpoint %d (size %d): its verifier key is malformed: %v", sc.ID, sc.Size, err)
					continue
				}
			}
			cp, err := OpenCheckpoint(sc.Note, v)
			if err == nil && (cp.Size != sc.Size || !bytes.Equal(cp.Root, sc.Root)) {
				err = fmt.Errorf("its columns disagree with its signed note")
			}
			if err != nil {
				problem(-1, nil, "stored checkpoint %d (size %d): %v", sc.ID, sc.Size, err)
				continue
			}
			rep.Checkpoints++
			rep.Latest = &sc
			targets = append(targets, target{name: fmt.Sprintf("stored checkpoint %d (size %d)", sc.ID, sc.Size), size: cp.Size, root: cp.Root})
		}
	}
	treeSize, treeRoot, err := log.Tree(ctx)
	if err != nil {
		return Report{}, err
	}
	rep.TreeSize = treeSize
	slices.SortStableFunc(targets, func(a, b target) int { return cmp.Compare(a.size, b.size) })

	// One pass over the log in global order.
	rng := rangeFactory.NewEmptyRange(0)
	roots := map[uint64][]byte{0: emptyRoot}
	want := map[uint64]bool{treeSize: true}
	for _, t := range targets {
		want[t.size] = true
	}
	lastVersion := make(map[string]int64)
	var diffs []diff // leaves that differ from the stored tree
	differing := 0
	var storedLeaves []byte // level-0 tile hashes of the current batch
	var storedFrom uint64
	var pos eventstore.Position
	var buf []byte
	for {
		events, err := store.ReadAll(ctx, pos, 10_000, eventstore.Filter{})
		if err != nil {
			return Report{}, err
		}
		first := rng.End()
		if first < treeSize && len(events) > 0 {
			storedFrom = first / tileWidth * tileWidth
			if storedLeaves, err = readLeafTiles(ctx, log, storedFrom, min(first+uint64(len(events)), treeSize)); err != nil {
				return Report{}, err
			}
		}
		for i := range events {
			e := &events[i]
			index := rng.End()
			var leaf []byte
			leaf, buf = leafHashOf(buf, index, e)
			if index < treeSize {
				off := (index - storedFrom) * sha256.Size
				if off+sha256.Size > uint64(len(storedLeaves)) || !bytes.Equal(storedLeaves[off:off+sha256.Size], leaf) {
					differing++
					if len(diffs) < maxLeafProblems {
						diffs = append(diffs, diff{index: index, stream: e.StreamID, version: e.Version})
					}
				}
			}
			if last := lastVersion[e.StreamID]; e.Version != last+1 {
				problem(int64(index), e, "version %d of the stream comes after version %d in the global order", e.Version, last)
			}
			lastVersion[e.StreamID] = e.Version
			_ = rng.Append(leaf, nil)
			if want[rng.End()] {
				roots[rng.End()] = rootOf(rng)
			}
		}
		if len(events) < 10_000 {
			break
		}
		pos = events[len(events)-1].Position
	}
	rep.Leaves = rng.End()

	// The stored tree against the log.
	storedIntact := true
	switch {
	case treeSize > rep.Leaves:
		storedIntact = false
		problem(int64(rep.Leaves), nil, "the log has %d events but its tree has %d leaves: events were removed", rep.Leaves, treeSize)
	case !bytes.Equal(roots[treeSize], treeRoot):
		storedIntact = false
		problem(-1, nil, "the stored tree of %d leaves is not the tree of the log's first %d events (%d leaves differ)", treeSize, treeSize, differing)
	}
	reportDiffs := func(limit uint64) {
		n := 0
		for _, d := range diffs {
			if d.index < limit {
				n++
				problem(int64(d.index), &eventstore.RecordedEvent{StreamID: d.stream, Version: d.version},
					"this event is not the leaf the checkpoint signed (changed, moved, inserted or a predecessor removed)")
			}
		}
		if differing > n && n == maxLeafProblems {
			problem(-1, nil, "and %d more leaves differ", differing-n)
		}
	}
	reported := false
	for _, t := range targets {
		short := t.size > rep.Leaves
		switch {
		case short:
			problem(int64(rep.Leaves), nil, "%s covers %d leaves but the log has only %d events: events were removed", t.name, t.size, rep.Leaves)
		case !bytes.Equal(roots[t.size], t.root):
			problem(-1, nil, "%s: the log's first %d events do not hash to its root", t.name, t.size)
		}
		if (short || !bytes.Equal(roots[t.size], t.root)) && !reported && t.size <= treeSize {
			// When the stored tree matches the checkpoint, its leaves are
			// the signed ones, and the events that differ from them are
			// the places the log was changed.
			stored, err := log.rootAt(ctx, t.size)
			if err == nil && bytes.Equal(stored, t.root) {
				reported = true
				reportDiffs(t.size)
			} else {
				problem(-1, nil, "%s: the stored tree was rewritten too, so the changed leaves cannot be told", t.name)
			}
		}
		if t.size > treeSize {
			problem(-1, nil, "%s is larger than the stored tree (%d leaves)", t.name, treeSize)
			continue
		}
		p, err := log.Consistency(ctx, t.size, treeSize)
		if err != nil {
			problem(-1, nil, "%s: no consistency proof to the stored tree: %v", t.name, err)
			continue
		}
		p.FromRoot, p.ToRoot = t.root, treeRoot
		if err := p.Verify(); err != nil {
			problem(-1, nil, "%s: the stored tree of %d leaves is not consistent with it", t.name, treeSize)
		}
	}
	if !storedIntact && !reported && len(targets) == 0 {
		reportDiffs(treeSize)
	}
	return rep, nil
}

// diff is a leaf recomputed from the log that differs from the stored one.
type diff struct {
	index   uint64
	stream  string
	version int64
}

// readLeafTiles returns the stored leaf hashes from leaf from (a multiple of
// 256) up to leaf to.
func readLeafTiles(ctx context.Context, l *Log, from, to uint64) ([]byte, error) {
	var needs []tileNeed
	for n := from / tileWidth; n*tileWidth < to; n++ {
		needs = append(needs, tileNeed{tileKey{0, int64(n)}, 1})
	}
	tiles, err := readTiles(ctx, l.pool, nil, needs)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, need := range needs {
		t := tiles[need.key]
		out = append(out, t.hashes...)
		if len(t.hashes) < tileWidth*sha256.Size {
			break
		}
	}
	return out, nil
}

// rootAt returns the root of the stored tree's first size leaves.
func (l *Log) rootAt(ctx context.Context, size uint64) ([]byte, error) {
	rng, err := rangeAt(ctx, l.pool, nil, size)
	if err != nil {
		return nil, err
	}
	return rootOf(rng), nil
}
