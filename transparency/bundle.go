package transparency

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/riskreg/riskreg/eventstore"
)

// BundleFormat is the format name in the first line of every bundle.
const BundleFormat = "riskreg-audit-bundle/1"

// maxBundleLine caps a bundle line (one event with its proof) on reading.
const maxBundleLine = 16 << 20

// bundleHeader is a bundle's first line.
type bundleHeader struct {
	Format   string   `json:"format"`
	Origin   string   `json:"origin"`
	TreeSize uint64   `json:"treeSize"`
	Streams  []string `json:"streams"` // nil: every event of the tree
}

// bundleCheckpoint is its second line: the signed checkpoint.
type bundleCheckpoint struct {
	Checkpoint string `json:"checkpoint"`
}

// bundleConsistency is the optional third line.
type bundleConsistency struct {
	Consistency ConsistencyJSON `json:"consistency"`
}

// bundleEvent is every further line: an event as stored, with its leaf
// index and, in a bundle of some streams only, its inclusion proof.
type bundleEvent struct {
	LeafIndex uint64       `json:"leafIndex"`
	Event     bundleStored `json:"event"`
	Proof     []string     `json:"proof,omitempty"`
}

// bundleStored is an event as the log stores it (never upcast).
type bundleStored struct {
	ID            uuid.UUID       `json:"id"`
	StreamID      string          `json:"streamId"`
	StreamType    string          `json:"streamType"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
	Actor         string          `json:"actor"`
	CorrelationID string          `json:"correlationId"`
	CausationID   string          `json:"causationId"`
	DecisionID    string          `json:"decisionId"`
	RequestID     string          `json:"requestId"`
	Extra         json.RawMessage `json:"extra"`
	OccurredAt    time.Time       `json:"occurredAt"`
	RecordedAt    time.Time       `json:"recordedAt"`
	PrevHash      []byte          `json:"prevHash"`
	Hash          []byte          `json:"hash"`
}

func storedOf(e *eventstore.RecordedEvent) bundleStored {
	return bundleStored{ID: e.ID, StreamID: e.StreamID, StreamType: e.StreamType, Version: e.Version, Type: e.Type,
		SchemaVersion: e.SchemaVersion, Data: e.Data, Actor: e.Metadata.Actor, CorrelationID: e.Metadata.CorrelationID,
		CausationID: e.Metadata.CausationID, DecisionID: e.Metadata.DecisionID, RequestID: e.Metadata.RequestID,
		Extra: e.Metadata.Extra, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt, PrevHash: e.PrevHash, Hash: e.Hash}
}

func (b *bundleStored) recorded() eventstore.RecordedEvent {
	return eventstore.RecordedEvent{ID: b.ID, StreamID: b.StreamID, StreamType: b.StreamType, Version: b.Version, Type: b.Type,
		SchemaVersion: b.SchemaVersion, Data: b.Data, Metadata: eventstore.Metadata{Actor: b.Actor, CorrelationID: b.CorrelationID,
			CausationID: b.CausationID, DecisionID: b.DecisionID, RequestID: b.RequestID, Extra: b.Extra},
		OccurredAt: b.OccurredAt, RecordedAt: b.RecordedAt, PrevHash: b.PrevHash, Hash: b.Hash}
}

// ExportOptions narrow a bundle.
type ExportOptions struct {
	// Streams, when not empty, limits the bundle to these streams' events,
	// each with an inclusion proof; otherwise every leaf of the tree is in
	// it and the root is recomputed from them.
	Streams []string
	// Since, when set, is a checkpoint the auditor holds: the bundle carries
	// the consistency proof from its size to the bundle's checkpoint.
	Since *Checkpoint
}

// BundleSummary says what a bundle holds.
type BundleSummary struct {
	Origin   string
	TreeSize uint64
	Events   int
}

// ExportBundle writes an evidence bundle of the log up to its latest signed
// checkpoint to w: JSON Lines, see docs/audit.md. store must not upcast, so
// that the events are as their hashes cover them.
func ExportBundle(ctx context.Context, store *eventstore.Store, w io.Writer, opts ExportOptions) (BundleSummary, error) {
	l := NewLog(store)
	cp, err := l.LatestCheckpoint(ctx)
	if err != nil {
		return BundleSummary{}, err
	}
	if cp == nil {
		return BundleSummary{}, errors.New("transparency: no signed checkpoint to export against (run serve or integrate with --signing-key)")
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	write := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("transparency: write bundle: %w", err)
		}
		return nil
	}
	sum := BundleSummary{Origin: cp.Origin, TreeSize: cp.Size}
	var streams []string
	if len(opts.Streams) > 0 {
		streams = slices.Clone(opts.Streams)
		slices.Sort(streams)
		streams = slices.Compact(streams)
	}
	if err := write(bundleHeader{Format: BundleFormat, Origin: cp.Origin, TreeSize: cp.Size, Streams: streams}); err != nil {
		return sum, err
	}
	if err := write(bundleCheckpoint{Checkpoint: string(cp.Note)}); err != nil {
		return sum, err
	}
	if opts.Since != nil {
		p, err := l.Consistency(ctx, opts.Since.Size, cp.Size)
		if err != nil {
			return sum, err
		}
		if !bytes.Equal(p.FromRoot, opts.Since.Root) {
			return sum, fmt.Errorf("transparency: the log's tree of %d leaves is not the one the given checkpoint signed", opts.Since.Size)
		}
		if err := write(bundleConsistency{Consistency: p.JSON()}); err != nil {
			return sum, err
		}
	}
	var pos eventstore.Position
	index := uint64(0)
	for index < cp.Size {
		events, err := store.ReadAll(ctx, pos, int(min(10_000, cp.Size-index)), eventstore.Filter{})
		if err != nil {
			return sum, err
		}
		if len(events) == 0 {
			return sum, fmt.Errorf("transparency: the log has %d events, the checkpoint %d", index, cp.Size)
		}
		for i := range events {
			e := &events[i]
			line := bundleEvent{LeafIndex: index, Event: storedOf(e)}
			if streams != nil {
				if _, ok := slices.BinarySearch(streams, e.StreamID); !ok {
					index++
					continue
				}
				p, err := l.inclusion(ctx, index, cp.Size)
				if err != nil {
					return sum, err
				}
				line.Proof = b64s(p.Hashes)
			}
			if err := write(line); err != nil {
				return sum, err
			}
			sum.Events++
			index++
		}
		pos = events[len(events)-1].Position
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("transparency: write bundle: %w", err)
	}
	return sum, nil
}

// VerifyBundle checks a bundle with no database and no network: every line
// is exactly its canonical encoding (so any changed byte shows), the
// checkpoint's signature with v, every event's hash chain, the leaves
// against the checkpoint's root (recomputed from every leaf, or each
// event's inclusion proof), and, when held is given, that the bundle's
// checkpoint is consistent with it. It returns the problems found; an error
// means the bundle could not be read at all. Event lines are decoded and
// hashed on every core, and checked against each other in order.
func VerifyBundle(r io.Reader, v note.Verifier, held *Checkpoint) (BundleSummary, []string, error) {
	return verifyBundle(r, v, held, false)
}

// verifyBundle is VerifyBundle; reference decodes every event line with
// encoding/json (decodeCanonical) instead of parseEventLine first, for the
// tests that compare the two.
func verifyBundle(r io.Reader, v note.Verifier, held *Checkpoint, reference bool) (BundleSummary, []string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var sum BundleSummary
	var problems []string
	lineNo := 0
	next := func(dst any) (bool, error) {
		line, err := readBundleLine(br)
		if line == nil && err == nil {
			return false, nil
		}
		lineNo++
		if err == nil {
			err = decodeCanonical(line, dst)
		}
		if err != nil {
			return false, fmt.Errorf("line %d: %w", lineNo, err)
		}
		return true, nil
	}
	var hdr bundleHeader
	if ok, err := next(&hdr); err != nil || !ok {
		return sum, nil, fmt.Errorf("transparency: bundle header: %w", errors.Join(err, errIf(!ok && err == nil, "empty bundle")))
	}
	if hdr.Format != BundleFormat {
		return sum, nil, fmt.Errorf("transparency: line 1: not a %s bundle", BundleFormat)
	}
	sum.Origin, sum.TreeSize = hdr.Origin, hdr.TreeSize
	var bc bundleCheckpoint
	if ok, err := next(&bc); err != nil || !ok {
		return sum, nil, fmt.Errorf("transparency: bundle checkpoint: %w", errors.Join(err, errIf(!ok && err == nil, "missing")))
	}
	cp, err := OpenCheckpoint([]byte(bc.Checkpoint), v)
	if err != nil {
		return sum, []string{err.Error()}, nil
	}
	if cp.Size != hdr.TreeSize || cp.Origin != hdr.Origin {
		problems = append(problems, "the header's origin or tree size is not the checkpoint's")
	}
	var consistency *ConsistencyProof
	if line, _ := br.Peek(16); bytes.HasPrefix(line, []byte(`{"consistency"`)) {
		var bcs bundleConsistency
		if _, err := next(&bcs); err != nil {
			return sum, problems, err
		}
		p, err := bcs.Consistency.Proof()
		if err != nil {
			return sum, problems, fmt.Errorf("line %d: %w", lineNo, err)
		}
		consistency = &p
	}

	c := &bundleChecker{cp: cp, partial: hdr.Streams != nil, streams: make(map[string]bool), reference: reference,
		heads: make(map[string]streamHead), rng: rangeFactory.NewEmptyRange(0), last: -1}
	for _, s := range hdr.Streams {
		c.streams[s] = true
	}
	if err := c.run(br, lineNo); err != nil {
		return sum, append(problems, c.problems...), err
	}
	problems = append(problems, c.problems...)
	sum.Events = c.events
	if c.stopped {
		return sum, problems, nil
	}
	if !c.partial {
		if c.rng.End() != cp.Size {
			problems = append(problems, fmt.Sprintf("the bundle has %d leaves, the checkpoint %d", c.rng.End(), cp.Size))
		} else if !bytes.Equal(rootOf(c.rng), cp.Root) {
			problems = append(problems, "the bundle's leaves do not hash to the checkpoint's root")
		}
	}
	if held != nil {
		switch {
		case held.Origin != cp.Origin:
			problems = append(problems, fmt.Sprintf("the held checkpoint is of log %q, the bundle of %q", held.Origin, cp.Origin))
		case held.Size > cp.Size:
			problems = append(problems, fmt.Sprintf("the held checkpoint (%d leaves) is larger than the bundle's (%d): the log was truncated, or the bundle is old", held.Size, cp.Size))
		case held.Size == cp.Size:
			if !bytes.Equal(held.Root, cp.Root) {
				problems = append(problems, "the held checkpoint and the bundle's have the same size and different roots: the log was forked")
			}
		case consistency == nil || consistency.FromSize != held.Size || consistency.ToSize != cp.Size:
			problems = append(problems, fmt.Sprintf("the bundle has no consistency proof from the held checkpoint's size %d (export it with --since-checkpoint)", held.Size))
		case !bytes.Equal(consistency.FromRoot, held.Root) || !bytes.Equal(consistency.ToRoot, cp.Root):
			problems = append(problems, "the bundle's consistency proof is not between the held checkpoint and the bundle's")
		default:
			if err := consistency.Verify(); err != nil {
				problems = append(problems, "the bundle's checkpoint is not consistent with the held one: "+err.Error())
			}
		}
	}
	return sum, problems, nil
}

// readBundleLine returns the next line, newline included; nil and no error
// at the end.
func readBundleLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) < maxBundleLine {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err == io.EOF && len(line) == 0 {
		return nil, nil
	}
	if err != nil {
		return line, errors.Join(err, errors.New("a bundle line must end with a newline"))
	}
	return line, nil
}

// decodeCanonical decodes line into dst and checks that line is exactly
// dst's encoding.
func decodeCanonical(line []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	again, err := json.Marshal(dst)
	if err != nil {
		return err
	}
	if len(again) != len(line)-1 || !bytes.Equal(again, line[:len(again)]) {
		return errors.New("not in its canonical form: the bundle was changed")
	}
	return nil
}

// streamHead is the last event of a stream a bundle check has seen.
type streamHead struct {
	version int64
	hash    [sha256.Size]byte // zero before the first: the genesis hash
}

// bundleChecker checks a bundle's event lines: each on its own on every
// core (decoding, canonical form, chain hash, leaf hash, inclusion proof),
// then against each other in order (leaf order, stream chains, the root).
type bundleChecker struct {
	cp        Checkpoint
	partial   bool
	streams   map[string]bool
	reference bool // decode lines with encoding/json only

	heads    map[string]streamHead
	rng      *compact.Range
	last     int64
	events   int
	problems []string
	stopped  bool // a problem made the rest meaningless
}

// checkedLine is one event line checked on its own.
type checkedLine struct {
	lineNo int
	be     bundleEvent
	leaf   [sha256.Size]byte
	err    error    // the line could not be read: fatal
	issues []string // problems of the line on its own
}

// where names the line's event in a problem.
func (r *checkedLine) where() string {
	return fmt.Sprintf("leaf %d (stream %s version %d)", r.be.LeafIndex, r.be.Event.StreamID, r.be.Event.Version)
}

// bundleBlock is how many bytes of event lines the reader hands a worker at
// once (more when a line is longer).
const bundleBlock = 256 << 10

// run checks the event lines that follow line lineNo in br. A reader cuts
// the input into blocks of whole lines; a worker per core checks each
// block's lines on their own; then they are checked in order here. At most
// 2 blocks per worker are in flight.
func (c *bundleChecker) run(br *bufio.Reader, lineNo int) error {
	type job struct {
		block []byte
		first int // the line number of its first line
		out   chan []checkedLine
	}
	workers := max(runtime.GOMAXPROCS(0), 1)
	jobs := make(chan job)
	pending := make(chan chan []checkedLine, 2*workers) // bounds the memory held
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var h lineHasher
			for j := range jobs {
				out := make([]checkedLine, 0, bytes.Count(j.block, []byte{'\n'}))
				for rest, n := j.block, j.first; len(rest) > 0; n++ {
					i := bytes.IndexByte(rest, '\n')
					out = append(out, c.checkLine(rest[:i+1], n, &h))
					rest = rest[i+1:]
				}
				j.out <- out
			}
		})
	}
	var readErr error
	stop := make(chan struct{})
	go func() {
		defer close(pending)
		defer close(jobs)
		var carry []byte
		size := 16 << 10 // grows to bundleBlock: a small bundle needs no large block
		for {
			size = min(2*size, bundleBlock)
			if len(carry) >= size/2 {
				size = min(2*len(carry), maxBundleLine+1)
			}
			block := make([]byte, size)
			n := copy(block, carry)
			m, err := io.ReadFull(br, block[n:])
			block = block[:n+m]
			end := bytes.LastIndexByte(block, '\n') + 1
			carry = block[end:]
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("line %d: %w", lineNo+1, err)
			} else if err != nil && len(carry) > 0 {
				readErr = fmt.Errorf("line %d: a bundle line must end with a newline", lineNo+bytes.Count(block[:end], []byte{'\n'})+1)
			} else if len(carry) > maxBundleLine {
				readErr = fmt.Errorf("line %d: longer than %d bytes", lineNo+bytes.Count(block[:end], []byte{'\n'})+1, maxBundleLine)
			}
			if end > 0 {
				out := make(chan []checkedLine, 1)
				select {
				case pending <- out:
				case <-stop:
					return
				}
				jobs <- job{block: block[:end], first: lineNo + 1, out: out}
				lineNo += bytes.Count(block[:end], []byte{'\n'})
			}
			if err != nil || readErr != nil {
				return
			}
		}
	}()
	var fatal error
	for out := range pending {
		results := <-out
		if fatal != nil || c.stopped {
			continue
		}
		for i := range results {
			if fatal = c.inOrder(&results[i]); fatal != nil || c.stopped {
				close(stop)
				break
			}
		}
	}
	wg.Wait()
	return errors.Join(fatal, readErr)
}

// checkLine checks one event line on its own, with h the worker's buffers.
func (c *bundleChecker) checkLine(line []byte, lineNo int, h *lineHasher) checkedLine {
	r := checkedLine{lineNo: lineNo}
	if c.reference || !parseEventLine(line, &r.be, &h.scratch) {
		err := decodeCanonical(line, &r.be)
		if err == nil && (!canonicalRaw(r.be.Event.Data) || !canonicalRaw(r.be.Event.Extra)) {
			err = errors.New("the event's data or extra metadata is not in its canonical form: the bundle was changed")
		}
		if err != nil {
			r.err = fmt.Errorf("line %d: %w", lineNo, err)
			return r
		}
	}
	e := r.be.Event.recorded()
	var match bool
	if sum, ok := h.chainHash(&r.be.Event); ok && !c.reference {
		match = bytes.Equal(sum[:], e.Hash)
	} else {
		sum, err := eventstore.ChainHash(e)
		match = err == nil && bytes.Equal(sum, e.Hash)
	}
	if !match {
		r.issues = append(r.issues, r.where()+": the content does not match the event's hash")
	}
	var leaf []byte
	leaf, h.leaf = leafHashOf(h.leaf, r.be.LeafIndex, &e)
	copy(r.leaf[:], leaf)
	if c.partial {
		if !c.streams[e.StreamID] {
			r.issues = append(r.issues, r.where()+": a stream the header does not list")
		}
		hashes, err := unb64s(r.be.Proof)
		if err != nil {
			r.err = fmt.Errorf("line %d: %w", lineNo, err)
			return r
		}
		if err := proof.VerifyInclusion(hasher, r.be.LeafIndex, c.cp.Size, r.leaf[:], hashes, c.cp.Root); err != nil {
			r.issues = append(r.issues, r.where()+": not in the checkpoint's tree: "+err.Error())
		}
	} else if r.be.Proof != nil {
		r.issues = append(r.issues, r.where()+": a proof in a bundle of every event")
	}
	return r
}

// inOrder checks a line against the lines before it.
func (c *bundleChecker) inOrder(r *checkedLine) error {
	if r.err != nil {
		return r.err
	}
	c.events++
	e := &r.be.Event
	if int64(r.be.LeafIndex) <= c.last || r.be.LeafIndex >= c.cp.Size || (!c.partial && r.be.LeafIndex != c.rng.End()) {
		c.problems = append(c.problems, r.where()+": out of order or beyond the checkpoint")
		c.stopped = true
		return nil
	}
	c.last = int64(r.be.LeafIndex)
	c.problems = append(c.problems, r.issues...)
	hd := c.heads[e.StreamID]
	if e.Version != hd.version+1 || !bytes.Equal(e.PrevHash, hd.hash[:]) {
		c.problems = append(c.problems, r.where()+": the stream's chain is broken here (a version is missing or out of order)")
	}
	hd.version, hd.hash = e.Version, [sha256.Size]byte{}
	copy(hd.hash[:], e.Hash) // a hash of another length fails its own check
	c.heads[e.StreamID] = hd
	if !c.partial {
		_ = c.rng.Append(r.leaf[:], nil)
	}
	return nil
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}
