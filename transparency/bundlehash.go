package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// lineHasher recomputes the chain hash of a bundle's event, as
// eventstore.ChainHash does, from data and extra in the form canonicalRaw
// checked, without allocating: one per worker, its buffers reused. Where
// that form holds something it does not handle itself (a key with escapes,
// U+FFFD, bytes that are not UTF-8, deep nesting) it reports false and the
// caller uses eventstore.ChainHash.
type lineHasher struct {
	buf   []byte       // the chain hash's input
	tmp   []byte       // an object's members while they are put in order
	spans []memberSpan // the members of the objects being written
	leaf  []byte       // the leaf hash's input

	scratch lineScratch // parseEventLine's
}

// memberSpan is an object member written to buf: its key (in the raw
// value) and the bytes of `"key":value` in buf.
type memberSpan struct {
	key        []byte
	start, end int
}

// chainHash returns the chain hash of e (see eventstore's chainHash for
// the layout, and docs/audit.md).
func (h *lineHasher) chainHash(e *bundleStored) ([sha256.Size]byte, bool) {
	b := append(h.buf[:0], e.PrevHash...)
	b = append(b, e.ID[:]...)
	b = appendField(b, e.StreamID)
	b = appendField(b, e.StreamType)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Version))
	b = appendField(b, e.Type)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(e.SchemaVersion)))
	h.buf = b
	if !h.canonicalField(e.Data) {
		return [sha256.Size]byte{}, false
	}
	b = appendField(h.buf, e.Actor)
	b = appendField(b, e.CorrelationID)
	b = appendField(b, e.CausationID)
	b = appendField(b, e.DecisionID)
	b = appendField(b, e.RequestID)
	h.buf = b
	if !h.canonicalField(e.Extra) {
		return [sha256.Size]byte{}, false
	}
	n := len(h.buf)
	h.buf = e.OccurredAt.UTC().AppendFormat(binary.BigEndian.AppendUint32(h.buf, 0), time.RFC3339Nano)
	binary.BigEndian.PutUint32(h.buf[n:], uint32(len(h.buf)-n-4))
	return sha256.Sum256(h.buf), true
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// canonicalField appends the canonical JSON of raw, length-prefixed.
func (h *lineHasher) canonicalField(raw []byte) bool {
	n := len(h.buf)
	h.buf = binary.BigEndian.AppendUint32(h.buf, 0)
	w := canonWriter{in: raw, h: h}
	if !w.value(0) || w.pos != len(raw) {
		return false
	}
	binary.BigEndian.PutUint32(h.buf[n:], uint32(len(h.buf)-n-4))
	return true
}

// canonWriter writes the canonical JSON (eventstore's canonicalJSON: keys
// sorted, the last of equal keys kept, strings with only '"', '\\' and
// control characters escaped, numbers as digits and an exponent) of a
// value in canonicalRaw's form to its lineHasher's buf.
type canonWriter struct {
	in  []byte
	pos int
	h   *lineHasher
}

func (w *canonWriter) value(depth int) bool {
	if w.pos >= len(w.in) || depth > maxRawDepth {
		return false
	}
	switch c := w.in[w.pos]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		w.h.buf = append(w.h.buf, '[')
		w.pos++
		for first := true; w.pos < len(w.in) && w.in[w.pos] != ']'; first = false {
			if !first {
				w.h.buf = append(w.h.buf, ',')
				w.pos++ // ,
			}
			if !w.value(depth + 1) {
				return false
			}
		}
		w.h.buf = append(w.h.buf, ']')
		w.pos++
		return w.pos <= len(w.in)
	case c == '"':
		return w.string()
	case c == 't', c == 'f', c == 'n':
		lit := "null"
		if c == 't' {
			lit = "true"
		} else if c == 'f' {
			lit = "false"
		}
		if !bytes.HasPrefix(w.in[w.pos:], []byte(lit)) {
			return false
		}
		w.h.buf = append(w.h.buf, lit...)
		w.pos += len(lit)
		return true
	default:
		return w.number()
	}
}

// object writes the members as they come, then rewrites them in key order.
func (w *canonWriter) object(depth int) bool {
	h := w.h
	w.pos++ // {
	start, base := len(h.buf), len(h.spans)
	for w.pos < len(w.in) && w.in[w.pos] != '}' {
		if w.in[w.pos] == ',' {
			w.pos++
		}
		key, ok := w.key()
		if !ok {
			return false
		}
		m := len(h.buf)
		h.buf = append(append(append(h.buf, '"'), key...), '"', ':')
		w.pos++ // :
		if !w.value(depth + 1) {
			return false
		}
		h.spans = append(h.spans, memberSpan{key: key, start: m, end: len(h.buf)})
	}
	w.pos++ // }
	members := h.spans[base:]
	slices.SortStableFunc(members, func(a, b memberSpan) int { return bytes.Compare(a.key, b.key) })
	h.tmp = append(h.tmp[:0], h.buf[start:]...)
	h.buf = append(h.buf[:start], '{')
	first := true
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue // the last of equal keys wins, as in jsonb
		}
		if !first {
			h.buf = append(h.buf, ',')
		}
		first = false
		h.buf = append(h.buf, h.tmp[m.start-start:m.end-start]...)
	}
	h.buf = append(h.buf, '}')
	h.spans = h.spans[:base]
	return w.pos <= len(w.in)
}

// key reads an object key without escapes, its canonical encoding the same.
func (w *canonWriter) key() ([]byte, bool) {
	if w.pos >= len(w.in) || w.in[w.pos] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(w.in[w.pos+1:], '"')
	if end < 0 {
		return nil, false
	}
	key := w.in[w.pos+1 : w.pos+1+end]
	if bytes.IndexByte(key, '\\') >= 0 || !plainUTF8(key) {
		return nil, false
	}
	w.pos += end + 2
	return key, true
}

// plainUTF8 reports whether s is valid UTF-8 without U+FFFD (which the
// canonical form escapes).
func plainUTF8(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return utf8.Valid(s) && !bytes.Contains(s, []byte("\uFFFD"))
		}
	}
	return true
}

// canonicalEscape maps the escapes of canonicalRaw's form to the canonical
// form's: a character, or an escape of its own.
var canonicalEscape = map[string]string{
	`\"`: `\"`, `\\`: `\\`, `\b`: `\u0008`, `\f`: `\u000c`, `\n`: `\u000a`, `\r`: `\u000d`, `\t`: `\u0009`,
	`\u003c`: "<", `\u003e`: ">", `\u0026`: "&", `\u2028`: "\u2028", `\u2029`: "\u2029",
}

func (w *canonWriter) string() bool {
	w.pos++ // "
	h := w.h
	h.buf = append(h.buf, '"')
	start := w.pos
	for w.pos < len(w.in) {
		switch c := w.in[w.pos]; c {
		case '"':
			if !plainUTF8(w.in[start:w.pos]) {
				return false
			}
			w.pos++
			h.buf = append(h.buf, '"')
			return true
		case '\\':
			n := 2
			if w.pos+1 < len(w.in) && w.in[w.pos+1] == 'u' {
				n = 6
			}
			if w.pos+n > len(w.in) {
				return false
			}
			esc := w.in[w.pos : w.pos+n]
			if to, ok := canonicalEscape[string(esc)]; ok {
				h.buf = append(h.buf, to...)
			} else if n == 6 && esc[2] == '0' && esc[3] == '0' && esc[4] <= '1' {
				h.buf = append(h.buf, esc...) // another control character: as it is
			} else {
				return false
			}
			w.pos += n
		default:
			h.buf = append(h.buf, c)
			w.pos++
		}
	}
	return false
}

// number writes -?(0|[1-9][0-9]*)(\.[0-9]+)? by value: its significant
// digits without leading or trailing zeros and a decimal exponent, "0" for
// zero (eventstore's canonicalNumber).
func (w *canonWriter) number() bool {
	h := w.h
	neg := w.pos < len(w.in) && w.in[w.pos] == '-'
	if neg {
		w.pos++
	}
	intStart := w.pos
	for w.pos < len(w.in) && w.in[w.pos] >= '0' && w.in[w.pos] <= '9' {
		w.pos++
	}
	intPart, frac := w.in[intStart:w.pos], []byte(nil)
	if w.pos < len(w.in) && w.in[w.pos] == '.' {
		w.pos++
		fracStart := w.pos
		for w.pos < len(w.in) && w.in[w.pos] >= '0' && w.in[w.pos] <= '9' {
			w.pos++
		}
		frac = w.in[fracStart:w.pos]
	}
	if len(intPart) == 0 {
		return false
	}
	exp := -len(frac)
	intPart = bytes.TrimLeft(intPart, "0")
	if len(intPart) == 0 {
		frac = bytes.TrimLeft(frac, "0")
	}
	if len(intPart) == 0 && len(frac) == 0 {
		h.buf = append(h.buf, '0')
		return true
	}
	if neg {
		h.buf = append(h.buf, '-')
	}
	if len(frac) == 0 || len(bytes.TrimRight(frac, "0")) == 0 {
		// The digits end in intPart: drop its trailing zeros.
		trimmed := bytes.TrimRight(intPart, "0")
		exp += len(frac) + len(intPart) - len(trimmed)
		h.buf = append(h.buf, trimmed...)
	} else {
		trimmed := bytes.TrimRight(frac, "0")
		exp += len(frac) - len(trimmed)
		h.buf = append(append(h.buf, intPart...), trimmed...)
	}
	h.buf = strconv.AppendInt(append(h.buf, 'e'), int64(exp), 10)
	return true
}
