package transparency

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/eventstore"
)

// randomText returns a short string with some of the characters that
// encoding/json escapes or that are not valid UTF-8.
func randomText(rng *rand.Rand) string {
	pieces := []string{"a", "risk", "Z9", " ", "-", "é", "😀", "<", ">", "&", `"`, `\`, "\u2028", "\u2029", "\x01", "\n", "\t", "\x7f", "\xff", "/"}
	var b strings.Builder
	for range rng.IntN(6) {
		// Mostly plain text, as real events are.
		if rng.IntN(4) > 0 {
			b.WriteString(pieces[rng.IntN(5)])
		} else {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
	}
	return b.String()
}

// randomJSON returns a JSON value as PostgreSQL's jsonb output writes one
// (white space after ':' and ','), with numbers and strings of every kind.
func randomJSON(rng *rand.Rand, depth int) string {
	switch k := rng.IntN(6); {
	case k == 0 && depth < 3:
		var parts []string
		for range rng.IntN(4) {
			parts = append(parts, jsonbString(randomText(rng))+": "+randomJSON(rng, depth+1))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case k == 1 && depth < 3:
		var parts []string
		for range rng.IntN(4) {
			parts = append(parts, randomJSON(rng, depth+1))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case k == 2:
		return []string{"0", "-1", "15", "1.50", "-0.0005", "123456789012345678901234567890"}[rng.IntN(6)]
	case k == 3:
		return []string{"true", "false", "null"}[rng.IntN(3)]
	default:
		return jsonbString(randomText(rng))
	}
}

// jsonbString quotes s as PostgreSQL's jsonb output does.
func jsonbString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch c {
		case '"', '\\':
			b.WriteString(`\` + string(c))
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// randomEvents returns n events of a few streams with their chains, as
// the log stores them.
func randomEvents(t testing.TB, rng *rand.Rand, n int) []eventstore.RecordedEvent {
	t.Helper()
	heads := map[string]*eventstore.RecordedEvent{}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -5*3600-1800)}
	events := make([]eventstore.RecordedEvent, n)
	for i := range events {
		e := &events[i]
		e.ID = uuid.New()
		e.StreamID = fmt.Sprintf("risk-%d", rng.IntN(4))
		if rng.IntN(8) == 0 {
			e.StreamID += randomText(rng)
		}
		e.StreamType, e.Type, e.SchemaVersion = "risk", "RiskUpdated", 1+rng.IntN(2)
		e.Data = json.RawMessage(`{"title": "Supply chain disruption", "owner": "Director of Finance", "n": ` + fmt.Sprint(i) + `}`)
		if rng.IntN(2) == 0 {
			e.Data = json.RawMessage(randomJSON(rng, 0))
		}
		e.Metadata = eventstore.Metadata{Actor: "user:" + randomText(rng), CorrelationID: randomText(rng), Extra: json.RawMessage(`{}`)}
		if rng.IntN(3) == 0 {
			e.Metadata.RequestID, e.Metadata.DecisionID, e.Metadata.Extra = uuid.NewString(), randomText(rng), json.RawMessage(randomJSON(rng, 1))
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		e.OccurredAt = base.Truncate(time.Duration(1+rng.IntN(3)) * time.Millisecond).In(zones[rng.IntN(len(zones))])
		e.RecordedAt = base.Add(time.Duration(rng.IntN(1e9))).Truncate(time.Microsecond).In(zones[rng.IntN(len(zones))])
		e.PrevHash = make([]byte, 32)
		if hd := heads[e.StreamID]; hd != nil {
			e.Version, e.PrevHash = hd.Version+1, hd.Hash
		} else {
			e.Version = 1
		}
		h, err := eventstore.ChainHash(*e)
		if err != nil {
			h = make([]byte, 32) // invalid JSON or UTF-8: a bundle that fails, as it should
		}
		e.Hash = h
		heads[e.StreamID] = e
	}
	return events
}

// bundleOf writes a bundle of every event in events, as ExportBundle writes
// one of a log, signed with key.
func bundleOf(t testing.TB, key *SigningKey, events []eventstore.RecordedEvent) []byte {
	t.Helper()
	rng := rangeFactory.NewEmptyRange(0)
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	var buf []byte
	for i := range events {
		var leaf []byte
		leaf, buf = leafHashOf(buf, uint64(i), &events[i])
		if err := rng.Append(bytes.Clone(leaf), nil); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(bundleEvent{LeafIndex: uint64(i), Event: storedOf(&events[i])}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := key.Sign(uint64(len(events)), rootOf(rng))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc = json.NewEncoder(&out)
	_ = enc.Encode(bundleHeader{Format: BundleFormat, Origin: cp.Origin, TreeSize: cp.Size})
	_ = enc.Encode(bundleCheckpoint{Checkpoint: string(cp.Note)})
	out.Write(lines.Bytes())
	return out.Bytes()
}

// TestParseEventLineAgainstEncodingJSON compares the hand-written line
// parser with encoding/json, the reference, on random event lines and on
// changed copies of them: whatever the parser accepts, encoding/json must
// accept with the same values; and it must accept the common lines itself.
func TestParseEventLineAgainstEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 1))
	events := randomEvents(t, rng, 400)
	fast, plain, hashed := 0, 0, 0
	var h lineHasher
	for i := range events {
		be := bundleEvent{LeafIndex: uint64(rng.Int64N(1 << 40)), Event: storedOf(&events[i])}
		if i%5 == 0 {
			be.Proof = b64s([][]byte{events[i].Hash, events[max(i-1, 0)].Hash})
		}
		line, err := json.Marshal(be)
		if err != nil {
			t.Fatal(err)
		}
		line = append(line, '\n')
		if !bytes.ContainsAny(line, `\`) {
			plain++
		}
		if compareLine(t, line) {
			fast++
		} else if !bytes.ContainsAny(line, `\`) {
			t.Errorf("the parser refuses a canonical line without escapes: %s", line)
		}
		if compareHash(t, &h, line) {
			hashed++
		}
		for range 30 {
			changed := bytes.Clone(line)
			switch j := rng.IntN(len(line)); rng.IntN(4) {
			case 0:
				changed[j] ^= 1 << rng.IntN(8)
			case 1:
				changed[j] = ` "\,:{}[]0123456789.eE+-<&atfnu`[rng.IntN(31)]
			case 2:
				changed = append(changed[:j:j], line[j+1:]...)
			default:
				changed = append(append(changed[:j:j], ` "\,:0e-`[rng.IntN(8)]), line[j:]...)
			}
			compareLine(t, changed)
		}
	}
	if fast < plain || hashed < len(events)*3/4 {
		t.Errorf("the parser accepted %d of %d lines (%d without escapes), the hasher hashed %d", fast, len(events), plain, hashed)
	}
}

// compareHash reports whether lineHasher hashes the event of line itself,
// failing the test if its hash is not eventstore.ChainHash's.
func compareHash(t *testing.T, h *lineHasher, line []byte) bool {
	t.Helper()
	var be bundleEvent
	if err := decodeCanonical(line, &be); err != nil {
		return false // text that is not UTF-8 (no store holds it) comes back changed
	}
	if !canonicalRaw(be.Event.Data) || !canonicalRaw(be.Event.Extra) {
		t.Errorf("data as exported is not in canonicalRaw's form: %s", line)
		return false
	}
	sum, ok := h.chainHash(&be.Event)
	if !ok {
		return false
	}
	want, err := eventstore.ChainHash(be.Event.recorded())
	if err != nil || !bytes.Equal(sum[:], want) {
		t.Errorf("the chain hash of %s: %x, eventstore's %x (%v)", line, sum, want, err)
	}
	return true
}

// compareLine reports whether parseEventLine accepts line, failing the test
// if encoding/json does not agree.
func compareLine(t *testing.T, line []byte) bool {
	t.Helper()
	var fast, ref bundleEvent
	if !parseEventLine(line, &fast, &lineScratch{}) {
		return false
	}
	if err := decodeCanonical(line, &ref); err != nil {
		t.Errorf("the parser accepts a line encoding/json refuses (%v): %q", err, line)
		return true
	}
	a, _ := json.Marshal(fast)
	b, _ := json.Marshal(ref)
	if !bytes.Equal(a, b) {
		t.Errorf("the parser and encoding/json decode %q differently:\n%s\n%s", line, a, b)
	}
	return true
}

// TestVerifyBundleAgainstReference verifies random bundles, intact and with
// one byte changed, with the parser and with encoding/json only: the
// results must be the same. In a small bundle every byte is flipped, and
// each flip must fail naming the place.
func TestVerifyBundleAgainstReference(t *testing.T) {
	key, v := testKey(t)
	rng := rand.New(rand.NewPCG(11, 2))
	verify := func(bundle []byte, reference bool) string {
		sum, problems, err := verifyBundle(bytes.NewReader(bundle), v, nil, reference)
		return fmt.Sprintf("%+v %q %v", sum, problems, err)
	}
	for round := range 3 {
		events := randomEvents(t, rng, 50+round*100)
		bundle := bundleOf(t, key, events)
		intact := verify(bundle, false)
		if ref := verify(bundle, true); intact != ref {
			t.Fatalf("round %d, intact: %s\nreference: %s", round, intact, ref)
		}
		for range 100 {
			changed := bytes.Clone(bundle)
			changed[rng.IntN(len(changed))] ^= 1 << rng.IntN(8)
			if got, ref := verify(changed, false), verify(changed, true); got != ref {
				t.Fatalf("round %d: %s\nreference: %s", round, got, ref)
			}
		}
	}

	// Every byte of a small bundle of valid events, flipped.
	events := randomEvents(t, rand.New(rand.NewPCG(11, 3)), 12)
	for i := range events {
		events[i].Data = json.RawMessage(fmt.Sprintf(`{"title": "Risk <%d>", "score": %d.5}`, i, i))
		events[i].StreamID = fmt.Sprintf("risk-%d", i%3)
		events[i].Metadata = eventstore.Metadata{Actor: "user:auditor", RequestID: uuid.NewString(), Extra: json.RawMessage(`{}`)}
	}
	events = randomEventsRehashed(t, events)
	bundle := bundleOf(t, key, events)
	if _, problems, err := VerifyBundle(bytes.NewReader(bundle), v, nil); err != nil || len(problems) > 0 {
		t.Fatalf("an intact bundle: %q %v", problems, err)
	}
	stride := 1
	if raceEnabled {
		stride = 3
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w * stride; i < len(bundle); i += 2 * stride {
				for _, mask := range []byte{0x01 << (i % 8)} {
					changed := bytes.Clone(bundle)
					changed[i] ^= mask
					_, problems, err := VerifyBundle(bytes.NewReader(changed), v, nil)
					msg := strings.Join(problems, "\n")
					if err != nil {
						msg += err.Error()
					}
					if !strings.Contains(msg, "line ") && !strings.Contains(msg, "leaf ") &&
						!strings.Contains(msg, "checkpoint") && !strings.Contains(msg, "header") {
						lo, hi := max(i-60, 0), min(i+20, len(bundle))
						t.Errorf("byte %d (%q) ^ %#x: %q, around %q", i, bundle[i], mask, msg, bundle[lo:hi])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// randomEventsRehashed recomputes the chains of events after a change.
func randomEventsRehashed(t testing.TB, events []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	t.Helper()
	heads := map[string][]byte{}
	versions := map[string]int64{}
	for i := range events {
		e := &events[i]
		versions[e.StreamID]++
		e.PrevHash, e.Version = heads[e.StreamID], versions[e.StreamID]
		if e.PrevHash == nil {
			e.PrevHash = make([]byte, 32)
		}
		h, err := eventstore.ChainHash(*e)
		if err != nil {
			t.Fatal(err)
		}
		e.Hash, heads[e.StreamID] = h, h
	}
	return events
}
