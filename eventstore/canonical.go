package eventstore

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// canonicalJSON returns a form of a JSON text that depends only on the value
// PostgreSQL's jsonb keeps of it, so that the JSON given to Append and the
// jsonb text read back from the log give the same form: object keys sorted,
// duplicates dropped (the last wins, as in jsonb), no white space, string
// escapes decoded, and numbers written by value (1.50e1 and 15.0 are both
// 15e0). The hash chain is computed over this form.
func canonicalJSON(b []byte) ([]byte, error) {
	c := canonicalizer{in: b, out: make([]byte, 0, len(b)+len(b)/8), members: make([]member, 0, 16)}
	c.space()
	if err := c.value(); err != nil {
		return nil, err
	}
	if c.space(); c.pos != len(c.in) {
		return nil, invalidf("not valid JSON: data after the value")
	}
	return c.out, nil
}

// canonicalizer writes the canonical form of the JSON text in in to out in
// one pass, without building Go values: it runs on every append. Objects
// being read keep their members on one stack and their canonical values in
// one buffer, each object its own top part of both, so that a member costs
// no allocation of its own.
type canonicalizer struct {
	in      []byte
	pos     int
	out     []byte
	members []member
	vals    []byte
}

// member is an object member: its decoded key and where its canonical
// value is in vals.
type member struct {
	key        []byte
	start, end int
}

func (c *canonicalizer) space() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) malformed() error {
	return invalidf("not valid JSON at byte %d", c.pos)
}

func (c *canonicalizer) value() error {
	if c.pos >= len(c.in) {
		return c.malformed()
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object()
	case ch == '[':
		return c.array()
	case ch == '"':
		s, err := c.string()
		if err != nil {
			return err
		}
		c.out = appendCanonicalString(c.out, s)
		return nil
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(c.in)-c.pos >= len(lit) && string(c.in[c.pos:c.pos+len(lit)]) == lit {
			c.out = append(c.out, lit...)
			c.pos += len(lit)
			return nil
		}
	}
	return c.malformed()
}

func (c *canonicalizer) object() error {
	c.pos++ // {
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, "{}"...)
		return nil
	}
	if c.vals == nil {
		c.vals = make([]byte, 0, len(c.in))
	}
	base, valBase := len(c.members), len(c.vals)
	defer func() { c.members, c.vals = c.members[:base], c.vals[:valBase] }()
	for {
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return c.malformed()
		}
		key, err := c.string()
		if err != nil {
			return err
		}
		c.space()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return c.malformed()
		}
		c.pos++
		c.space()
		// Write the value at the end of out, then move it aside.
		start := len(c.out)
		if err := c.value(); err != nil {
			return err
		}
		m := member{key: key, start: len(c.vals)}
		c.vals = append(c.vals, c.out[start:]...)
		m.end = len(c.vals)
		c.members = append(c.members, m)
		c.out = c.out[:start]
		c.space()
		if c.pos >= len(c.in) {
			return c.malformed()
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if c.in[c.pos] != ',' {
			return c.malformed()
		}
		c.pos++
	}
	// Sorted by key; of equal keys the last one given wins, as in jsonb.
	members := c.members[base:]
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	c.out = append(c.out, '{')
	first := true
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		c.out = appendCanonicalString(c.out, m.key)
		c.out = append(c.out, ':')
		c.out = append(c.out, c.vals[m.start:m.end]...)
	}
	c.out = append(c.out, '}')
	return nil
}

func (c *canonicalizer) array() error {
	c.pos++ // [
	c.out = append(c.out, '[')
	c.space()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for {
		c.space()
		if err := c.value(); err != nil {
			return err
		}
		c.space()
		if c.pos >= len(c.in) {
			return c.malformed()
		}
		if c.in[c.pos] == ']' {
			c.pos++
			c.out = append(c.out, ']')
			return nil
		}
		if c.in[c.pos] != ',' {
			return c.malformed()
		}
		c.pos++
		c.out = append(c.out, ',')
	}
}

// string reads a JSON string and returns it decoded: the bytes of the input
// when it has no escapes, which the caller must not change. Invalid UTF-8 is
// refused (PostgreSQL would refuse it too); a lone surrogate escape decodes
// to U+FFFD, as encoding/json decodes it.
func (c *canonicalizer) string() ([]byte, error) {
	c.pos++ // "
	start := c.pos
	for c.pos < len(c.in) {
		switch ch := c.in[c.pos]; {
		case ch == '"':
			raw := c.in[start:c.pos:c.pos]
			c.pos++
			if !utf8.Valid(raw) {
				return nil, invalidf("a JSON string is not valid UTF-8")
			}
			return raw, nil
		case ch == '\\':
			c.pos = start - 1
			return c.escapedString()
		case ch < 0x20:
			return nil, c.malformed()
		}
		c.pos++
	}
	return nil, c.malformed()
}

// escapedString is string for a string with escapes: encoding/json decodes
// it exactly as the canonical form needs.
func (c *canonicalizer) escapedString() ([]byte, error) {
	end := c.pos + 1
	for end < len(c.in) && c.in[end] != '"' {
		if c.in[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(c.in) {
		return nil, c.malformed()
	}
	if !utf8.Valid(c.in[c.pos : end+1]) {
		return nil, invalidf("a JSON string is not valid UTF-8")
	}
	var s string
	if err := json.Unmarshal(c.in[c.pos:end+1], &s); err != nil {
		return nil, invalidf("not valid JSON: %v", err)
	}
	c.pos = end + 1
	return []byte(s), nil
}

func (c *canonicalizer) number() error {
	start := c.pos
	for c.pos < len(c.in) {
		ch := c.in[c.pos]
		if ch != '-' && ch != '+' && ch != '.' && ch != 'e' && ch != 'E' && (ch < '0' || ch > '9') {
			break
		}
		c.pos++
	}
	n, err := canonicalNumber(string(c.in[start:c.pos]))
	if err != nil {
		return err
	}
	c.out = append(c.out, n...)
	return nil
}

// appendCanonicalString appends s quoted, escaping only what JSON requires,
// and U+FFFD (which invalid UTF-8 decodes to).
func appendCanonicalString(out []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for len(s) > 0 {
		// Most bytes are printable ASCII that needs no escape.
		if b := s[0]; b >= 0x20 && b < utf8.RuneSelf && b != '"' && b != '\\' {
			out = append(out, b)
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r == utf8.RuneError:
			out = append(out, `\ufffd`...)
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return append(out, '"')
}

// canonicalNumber writes a JSON number by value: its significant digits
// without leading or trailing zeros and a decimal exponent, "0" for zero.
func canonicalNumber(s string) (string, error) {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 32)
		if err != nil {
			return "", invalidf("number %s is out of range", s)
		}
		mant, exp = s[:i], e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	if digits == "" {
		return "0", nil
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	return sign + trimmed + "e" + strconv.FormatInt(exp, 10), nil
}
