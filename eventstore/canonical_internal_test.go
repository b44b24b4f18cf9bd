package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// referenceCanonical is the canonical form as first defined: decode with
// encoding/json, then write sorted. canonicalJSON must agree with it on every
// valid input, or stored hashes would stop verifying.
func referenceCanonical(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out []byte
	var write func(v any) error
	write = func(v any) error {
		switch v := v.(type) {
		case nil:
			out = append(out, "null"...)
		case bool:
			out = fmt.Append(out, v)
		case string:
			out = appendCanonicalString(out, []byte(v))
		case json.Number:
			n, err := canonicalNumber(string(v))
			if err != nil {
				return err
			}
			out = append(out, n...)
		case []any:
			out = append(out, '[')
			for i, x := range v {
				if i > 0 {
					out = append(out, ',')
				}
				if err := write(x); err != nil {
					return err
				}
			}
			out = append(out, ']')
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			out = append(out, '{')
			for i, k := range keys {
				if i > 0 {
					out = append(out, ',')
				}
				out = appendCanonicalString(out, []byte(k))
				out = append(out, ':')
				if err := write(v[k]); err != nil {
					return err
				}
			}
			out = append(out, '}')
		}
		return nil
	}
	return out, write(v)
}

var canonicalCorpus = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.0`, `1.50e1`, `15.0`, `1E-2`, `0.010`, `1e+2`, `123456789012345678901234567890.5e-3`,
	`true`, `false`, `null`, ` { "b" : 1 , "a" : [ 1 , 2 ] } `,
	`{"dup": 1, "dup": 2, "a": {"dup": [], "dup": {}}}`,
	`{"s": "tab\tnewline\nquote\"backslash\\slash\/ \u00e9 \u20ac \ud83d\ude00 \u001f é \ud800 \ufffd"}`,
	`{"é": 1, "e": 2, "E": 3, "": 4, "a\u0000b": 5}`,
	`[[[[{"deep": [null, true, false, -1.5e-7]}]]]]`,
	`{"title": "Supply chain disruption", "description": "Loss of a key supplier", "owner": "Director of Finance"}`,
}

func TestCanonicalJSONAgreesWithTheReference(t *testing.T) {
	check := func(in string) {
		t.Helper()
		want, werr := referenceCanonical([]byte(in))
		got, gerr := canonicalJSON([]byte(in))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: reference error %v, canonicalJSON error %v", in, werr, gerr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", in, got, want)
		}
	}
	for _, in := range canonicalCorpus {
		check(in)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		check(randomJSON(rng, 4))
	}
}

func TestCanonicalJSONRefusesMalformed(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":}`, `[1,]`, `"abc`, `tru`, `{"a":1}x`, "\"\xff\"", "\"a\x01\""} {
		if _, err := canonicalJSON([]byte(in)); err == nil {
			t.Errorf("canonicalJSON(%q) accepted malformed input", in)
		}
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, in := range canonicalCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) || strings.Contains(in, `\u0000`) {
			return
		}
		want, werr := referenceCanonical([]byte(in))
		got, gerr := canonicalJSON([]byte(in))
		if werr != nil || gerr != nil {
			return // numbers out of range, invalid UTF-8: refused either way
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", in, got, want)
		}
	})
}

// randomJSON returns a random JSON text with odd spacing, escapes, duplicate
// keys and number forms.
func randomJSON(rng *rand.Rand, depth int) string {
	sp := func() string { return []string{"", " ", "\n\t", "  "}[rng.IntN(4)] }
	str := func() string {
		parts := []string{"a", "b", "é", `\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude00`, "€", "ab", "B", ""}
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		return `"` + b.String() + `"`
	}
	n := rng.IntN(7)
	if depth == 0 {
		n = rng.IntN(4)
	}
	switch n {
	case 0:
		return str()
	case 1:
		return []string{"0", "-1", "1.50", "2e3", "-0.0", "1E-3", "12345678901234567890"}[rng.IntN(7)]
	case 2:
		return []string{"true", "false"}[rng.IntN(2)]
	case 3:
		return "null"
	case 4, 5:
		var b strings.Builder
		b.WriteString("{" + sp())
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString("," + sp())
			}
			b.WriteString(str() + sp() + ":" + sp() + randomJSON(rng, depth-1))
		}
		b.WriteString(sp() + "}")
		return b.String()
	default:
		var b strings.Builder
		b.WriteString("[" + sp())
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString("," + sp())
			}
			b.WriteString(randomJSON(rng, depth-1))
		}
		b.WriteString(sp() + "]")
		return b.String()
	}
}
