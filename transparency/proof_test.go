package transparency

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/tlog"
)

var everyEvent = flag.Bool("every-event", false, "find every leaf of TestEveryLeafOf10000 by its event id")

// storedHashes is a tlog.HashReader over the hashes tlog stores for leaves,
// computed by tlog itself: the second library the proofs are checked with.
type storedHashes []tlog.Hash

func (s storedHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(s)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

func tlogHashes(t *testing.T, leaves [][]byte) storedHashes {
	var s storedHashes
	for n, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(n), tlog.Hash(l), s)
		if err != nil {
			t.Fatal(err)
		}
		s = append(s, hs...)
	}
	return s
}

func toTlog(hs [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		out[i] = tlog.Hash(h)
	}
	return out
}

// TestProofsSmallTrees checks roots, inclusion and consistency proofs for
// every tree size from 1 to 300 with both libraries' verifiers, and roots
// with the RFC's definition written out in the test.
func TestProofsSmallTrees(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	for i := range 300 {
		appendN(t, ctx, store, fmt.Sprintf("risk-%d", i%17), 1, 1)
	}
	runIntegrator(t, store, IntegratorConfig{})
	size := waitIntegrated(t, ctx, store.Pool())
	leaves := allLeaves(t, ctx, store)
	th := tlogHashes(t, leaves)
	l := NewLog(store)
	roots := make([][]byte, size+1)
	for n := range roots {
		roots[n] = mth(leaves[:n])
	}
	for n := uint64(1); n <= size; n++ {
		root := roots[n]
		tr, err := tlog.TreeHash(int64(n), th)
		if err != nil || !bytes.Equal(tr[:], root) {
			t.Fatalf("size %d: tlog root %x, RFC root %x (%v)", n, tr, root, err)
		}
		for _, i := range []uint64{0, n / 3, n / 2, n - 1} {
			p, err := l.Inclusion(ctx, i, n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Root, root) || !bytes.Equal(p.LeafHash, leaves[i]) {
				t.Fatalf("inclusion %d in %d: root or leaf differs", i, n)
			}
			if err := p.Verify(); err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(toTlog(p.Hashes), int64(n), tlog.Hash(root), int64(i), tlog.Hash(leaves[i])); err != nil {
				t.Fatalf("tlog.CheckRecord %d in %d: %v", i, n, err)
			}
		}
		for _, m := range []uint64{0, 1, n / 3, n / 2, n - 1, n} {
			p, err := l.Consistency(ctx, m, n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.ToRoot, root) || !bytes.Equal(p.FromRoot, roots[m]) {
				t.Fatalf("consistency %d to %d: roots differ", m, n)
			}
			if err := p.Verify(); err != nil {
				t.Fatal(err)
			}
			if m > 0 {
				if err := tlog.CheckTree(toTlog(p.Hashes), int64(n), tlog.Hash(root), int64(m), tlog.Hash(p.FromRoot)); err != nil {
					t.Fatalf("tlog.CheckTree %d to %d: %v", m, n, err)
				}
			}
		}
	}
	// A proof checked against the wrong root, leaf or index fails.
	p, err := l.Inclusion(ctx, 5, 300)
	if err != nil {
		t.Fatal(err)
	}
	p.LeafIndex = 6
	if p.Verify() == nil {
		t.Error("an inclusion proof for the wrong index verified")
	}
	if _, err := l.Inclusion(ctx, 0, 301); err == nil {
		t.Error("a proof for a tree larger than the stored one was given")
	}
}

// TestEveryLeafOf10000 proves every leaf of a 10,000-event log and checks
// each proof with the merkle library's verifier (every 7th leaf under
// -race); every 49th leaf is also found by its event id (all of them with
// -every-event).
func TestEveryLeafOf10000(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	for s := range 20 {
		appendN(t, ctx, store, fmt.Sprintf("risk-%d", s), n/20, 250)
	}
	runIntegrator(t, store, IntegratorConfig{})
	size := waitIntegrated(t, ctx, store.Pool())
	l := NewLog(store)
	root := mth(allLeaves(t, ctx, store))
	events, err := store.ReadAll(ctx, zeroPos, n, eventFilter)
	if err != nil {
		t.Fatal(err)
	}
	step := 1
	if raceEnabled {
		step = 7 // the race detector makes hashing ten times slower
	}
	for i := 0; i < len(events); i += step {
		p, err := l.Inclusion(ctx, uint64(i), size)
		if err != nil {
			t.Fatal(err)
		}
		leaf := LeafHash(EntryOf(uint64(i), &events[i]).Encode())
		if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, leaf, p.Hashes, root); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if i%49 != 0 && !*everyEvent {
			continue
		}
		p, e, err := l.EventInclusion(ctx, events[i].ID, size)
		if err != nil {
			t.Fatal(err)
		}
		if p.LeafIndex != uint64(i) || e.ID != events[i].ID || !bytes.Equal(p.Root, root) {
			t.Fatalf("event %d: leaf %d", i, p.LeafIndex)
		}
		if err := proof.VerifyInclusion(hasher, p.LeafIndex, p.TreeSize, LeafHash(p.Entry), p.Hashes, root); err != nil {
			t.Fatalf("event of leaf %d: %v", i, err)
		}
	}
}
