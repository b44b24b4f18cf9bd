package transparency

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// parseEventLine decodes an event line of a bundle in one pass, without
// encoding/json: the line must be byte for byte what encoding/json writes
// for a bundleEvent (the fields in their order, no white space, every value
// in the form Marshal gives it), then a newline. It reports false for any
// line it does not recognise as that encoding, including some that are
// (strings with escapes, a negative version, a null hash); the caller then
// decodes the line with decodeCanonical, the reference, which either
// accepts it or says what is wrong. So whatever parseEventLine accepts,
// decodeCanonical accepts too, with the same values (bundleline_test.go
// compares the two).
//
// s, when not nil, is the calling worker's: it keeps the strings that
// repeat from line to line (stream ids and types, event types, actors) and
// a slab the hashes are decoded into, so that most lines allocate little.
func parseEventLine(line []byte, be *bundleEvent, s *lineScratch) bool {
	p := lineParser{b: line, ok: true, s: s}
	*be = bundleEvent{}
	e := &be.Event
	p.lit(`{"leafIndex":`)
	be.LeafIndex = p.uint()
	p.lit(`,"event":{"id":`)
	e.ID = p.uuid()
	p.lit(`,"streamId":`)
	e.StreamID = p.common()
	p.lit(`,"streamType":`)
	e.StreamType = p.common()
	p.lit(`,"version":`)
	e.Version = int64(p.uint())
	p.lit(`,"type":`)
	e.Type = p.common()
	p.lit(`,"schemaVersion":`)
	e.SchemaVersion = int(p.uint())
	p.lit(`,"data":`)
	e.Data = p.raw()
	p.lit(`,"actor":`)
	e.Actor = p.common()
	p.lit(`,"correlationId":`)
	e.CorrelationID = p.str()
	p.lit(`,"causationId":`)
	e.CausationID = p.str()
	p.lit(`,"decisionId":`)
	e.DecisionID = p.str()
	p.lit(`,"requestId":`)
	e.RequestID = p.str()
	p.lit(`,"extra":`)
	e.Extra = p.raw()
	p.lit(`,"occurredAt":`)
	e.OccurredAt = p.time()
	p.lit(`,"recordedAt":`)
	e.RecordedAt = p.time()
	p.lit(`,"prevHash":`)
	e.PrevHash = p.base64()
	p.lit(`,"hash":`)
	e.Hash = p.base64()
	p.lit(`}`)
	if p.ok && p.peek(',') {
		p.lit(`,"proof":[`)
		for p.ok {
			be.Proof = append(be.Proof, p.str())
			if !p.peek(',') {
				break
			}
			p.pos++
		}
		p.lit(`]`)
	}
	p.lit("}\n")
	return p.ok && p.pos == len(line)
}

// lineParser reads a bundle line; ok turns false at the first byte that is
// not where the canonical encoding puts it, and every later read is a no-op.
type lineParser struct {
	b   []byte
	pos int
	ok  bool
	s   *lineScratch
	// buf holds a time's or a hash's encoding, to compare with the line's.
	buf [64]byte
}

func (p *lineParser) fail() { p.ok = false }

func (p *lineParser) peek(c byte) bool { return p.pos < len(p.b) && p.b[p.pos] == c }

// lit reads the literal s.
func (p *lineParser) lit(s string) {
	if !p.ok || len(p.b)-p.pos < len(s) || string(p.b[p.pos:p.pos+len(s)]) != s {
		p.fail()
		return
	}
	p.pos += len(s)
}

// uint reads a non-negative integer of up to 18 digits without leading
// zeros, as encoding/json writes an integer (18 digits never overflow).
func (p *lineParser) uint() uint64 {
	if !p.ok {
		return 0
	}
	start := p.pos
	var n uint64
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' && p.pos-start < 18 {
		n = n*10 + uint64(p.b[p.pos]-'0')
		p.pos++
	}
	if d := p.pos - start; d == 0 || (d > 1 && p.b[start] == '0') || (p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9') {
		p.fail()
	}
	return n
}

// plainSpan reads a JSON string that encoding/json writes unchanged and
// without escapes, and returns its content: valid UTF-8 with no control
// character, '"', '\\', '<', '>', '&', U+2028 or U+2029.
func (p *lineParser) plainSpan() []byte {
	if !p.ok || !p.peek('"') {
		p.fail()
		return nil
	}
	start := p.pos + 1
	ascii := true
	i := start
	for i < len(p.b) && p.b[i] != '"' {
		if c := p.b[i]; c >= 0x80 {
			ascii = false
		} else if !plainASCII[c] {
			p.fail()
			return nil
		}
		i++
	}
	if i == len(p.b) {
		p.fail()
		return nil
	}
	s := p.b[start:i]
	if !ascii && (!utf8.Valid(s) || bytes.Contains(s, lineSep) || bytes.Contains(s, paraSep)) {
		p.fail()
		return nil
	}
	p.pos = i + 1
	return s
}

var (
	lineSep = []byte("\u2028")
	paraSep = []byte("\u2029")
	// plainASCII marks the ASCII bytes encoding/json writes unescaped in a
	// string (with escapeHTML, as Marshal and Encoder do by default).
	plainASCII = func() (t [128]bool) {
		for c := 0x20; c < 0x7f; c++ {
			t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
		}
		t[0x7f] = true
		return t
	}()
)

// lineScratch is what a worker's parseEventLine calls share.
type lineScratch struct {
	strs map[string]string // at most maxCommon
	slab []byte            // decoded hashes are cut from it
}

// maxCommon bounds lineScratch.strs; it starts again when full.
const maxCommon = 4096

// common reads a string that repeats from line to line.
func (p *lineParser) common() string {
	b := p.plainSpan()
	if p.s == nil || len(b) == 0 {
		return string(b)
	}
	if s, ok := p.s.strs[string(b)]; ok {
		return s
	}
	if p.s.strs == nil || len(p.s.strs) >= maxCommon {
		p.s.strs = make(map[string]string)
	}
	s := string(b)
	p.s.strs[s] = s
	return s
}

func (p *lineParser) str() string {
	s := p.plainSpan()
	if len(s) == 0 {
		return ""
	}
	return string(s)
}

// uuid reads a UUID as uuid.UUID's MarshalText writes it: lower-case hex
// with dashes.
func (p *lineParser) uuid() uuid.UUID {
	s := p.plainSpan()
	if !p.ok {
		return uuid.UUID{}
	}
	if len(s) != 36 {
		p.fail()
		return uuid.UUID{}
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				p.fail()
			}
		} else if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			p.fail()
		}
	}
	if !p.ok {
		return uuid.UUID{}
	}
	id, err := uuid.ParseBytes(s)
	if err != nil {
		p.fail()
	}
	return id
}

// time reads a time as time.Time's MarshalJSON writes it.
func (p *lineParser) time() time.Time {
	s := p.plainSpan()
	if !p.ok {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalText(s); err != nil {
		p.fail()
		return time.Time{}
	}
	again, err := t.AppendText(p.buf[:0])
	if err != nil || !bytes.Equal(again, s) {
		p.fail()
	}
	return t
}

// base64 reads a non-empty []byte as encoding/json writes it: standard
// base64 with padding.
func (p *lineParser) base64() []byte {
	s := p.plainSpan()
	if !p.ok {
		return nil
	}
	if len(s) == 0 || len(s) > 2*len(p.buf) {
		p.fail()
		return nil
	}
	var out []byte
	if size := base64.StdEncoding.DecodedLen(len(s)); p.s == nil || size > 64 {
		out = make([]byte, size)
	} else {
		if cap(p.s.slab)-len(p.s.slab) < size {
			p.s.slab = make([]byte, 0, 64<<10)
		}
		out = p.s.slab[len(p.s.slab) : len(p.s.slab)+size : len(p.s.slab)+size]
		p.s.slab = p.s.slab[:len(p.s.slab)+size]
	}
	n, err := base64.StdEncoding.Strict().Decode(out, s)
	if err != nil || base64.StdEncoding.EncodedLen(n) != len(s) {
		p.fail()
		return nil
	}
	out = out[:n]
	var enc [128]byte
	base64.StdEncoding.Encode(enc[:len(s)], out)
	if !bytes.Equal(enc[:len(s)], s) {
		p.fail()
	}
	return out
}

// raw reads a json.RawMessage (an event's data or extra metadata) as
// encoding/json writes one, and in the form PostgreSQL's jsonb output gives
// it: see canonicalRaw.
func (p *lineParser) raw() json.RawMessage {
	if !p.ok {
		return nil
	}
	start := p.pos
	p.value(0)
	if !p.ok {
		return nil
	}
	return json.RawMessage(p.b[start:p.pos])
}

// canonicalRaw reports whether raw is a JSON value in the one form a bundle
// may hold it in: the compact form encoding/json writes (no white space,
// '<', '>', '&', U+2028 and U+2029 escaped as \u003c, \u003e, \u0026,
// \u2028, \u2029) of the text PostgreSQL's jsonb output gives (numbers
// without an exponent; in strings, only '"', '\\' and control characters
// escaped, as \", \\, \b, \f, \n, \r, \t or \u00xx in lower case).
// encoding/json alone keeps a RawMessage's escapes as they are, so without
// this \u003C could stand for \u003c, or 1E5 for 1e5, and a changed byte
// would not show. Bytes that are not valid UTF-8 are left to the chain hash
// check, which refuses them.
func canonicalRaw(raw []byte) bool {
	p := lineParser{b: raw, ok: true}
	p.value(0)
	return p.ok && p.pos == len(raw)
}

// maxRawDepth bounds the nesting raw reads; deeper values are left to
// encoding/json.
const maxRawDepth = 64

func (p *lineParser) value(depth int) {
	if !p.ok || p.pos >= len(p.b) || depth > maxRawDepth {
		p.fail()
		return
	}
	switch c := p.b[p.pos]; {
	case c == '{':
		p.pos++
		if p.peek('}') {
			p.pos++
			return
		}
		for p.ok {
			p.rawString()
			p.lit(":")
			p.value(depth + 1)
			if !p.peek(',') {
				break
			}
			p.pos++
		}
		p.lit("}")
	case c == '[':
		p.pos++
		if p.peek(']') {
			p.pos++
			return
		}
		for p.ok {
			p.value(depth + 1)
			if !p.peek(',') {
				break
			}
			p.pos++
		}
		p.lit("]")
	case c == '"':
		p.rawString()
	case c == '-' || c >= '0' && c <= '9':
		p.number()
	case c == 't':
		p.lit("true")
	case c == 'f':
		p.lit("false")
	case c == 'n':
		p.lit("null")
	default:
		p.fail()
	}
}

// rawString reads a JSON string inside a raw value, with its escapes as
// canonicalRaw says.
func (p *lineParser) rawString() {
	if !p.ok || !p.peek('"') {
		p.fail()
		return
	}
	for i := p.pos + 1; i < len(p.b); i++ {
		c := p.b[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return
		case c == '\\':
			if i+1 < len(p.b) && shortEscape[p.b[i+1]] {
				i++
				continue
			}
			if i+5 >= len(p.b) || p.b[i+1] != 'u' || !unicodeEscape(p.b[i+2:i+6]) {
				p.fail()
				return
			}
			i += 5
		case c == 0xe2:
			if i+2 < len(p.b) && p.b[i+1] == 0x80 && p.b[i+2]&^1 == 0xa8 {
				p.fail()
				return
			}
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			p.fail()
			return
		}
	}
	p.fail()
}

// shortEscape marks the characters after '\\' of the two-character escapes
// of canonicalRaw.
var shortEscape = [256]bool{'"': true, '\\': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

// unicodeEscape reports whether hex (the four digits after \u) is one of
// canonicalRaw's escapes: a control character without a short escape, or
// '<', '>', '&', U+2028, U+2029.
func unicodeEscape(hex []byte) bool {
	switch string(hex) {
	case "003c", "003e", "0026", "2028", "2029":
		return true
	}
	if hex[0] != '0' || hex[1] != '0' || (hex[2] != '0' && hex[2] != '1') {
		return false
	}
	d := hex[3]
	switch {
	case d >= '0' && d <= '9':
		d -= '0'
	case d >= 'a' && d <= 'f':
		d -= 'a' - 10
	default:
		return false
	}
	c := (hex[2]-'0')<<4 | d
	return c != '\b' && c != '\f' && c != '\n' && c != '\r' && c != '\t'
}

// number reads a JSON number as jsonb writes one: -?(0|[1-9][0-9]*)(\.[0-9]+)?
func (p *lineParser) number() {
	digits := func() int {
		n := 0
		for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.peek('-') {
		p.pos++
	}
	if p.peek('0') {
		p.pos++
	} else if digits() == 0 {
		p.fail()
		return
	}
	if p.peek('.') {
		p.pos++
		if digits() == 0 {
			p.fail()
		}
	}
}
