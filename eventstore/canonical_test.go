package eventstore_test

import (
	"testing"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// TestHashSurvivesJSONBNormalisation stores JSON texts that jsonb rewrites
// (key order, duplicate keys, white space, escapes, number forms) and checks
// that the hash chain still verifies: the hash covers the value, not the
// bytes given to Append.
func TestHashSurvivesJSONBNormalisation(t *testing.T) {
	pool := pgtest.NewPool(t)
	s, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	texts := []string{
		`{"b": 1, "a": 2, "aa": 3, "B": 4}`,
		`{"dup": 1, "dup": 2}`,
		`  [ 1 , 2 ,3 ]  `,
		`{"n": [1.50e1, 15.0, 15, 1E-2, 0.010, -0.0, 0, 1e+2, 123456789012345678901234567890.5e-3, -7.25e10]}`,
		`{"s": "tab\tnewline\nquote\"backslash\\slash\/ \u00e9 \u20ac \ud83d\ude00 \u001f é"}`,
		`{"unicode-key-é": true, "nested": {"z": null, "y": [false, {"x": "\u0041"}]}}`,
		`"a string"`,
		`42`,
		`null`,
		`{}`,
	}
	for i, text := range texts {
		e := ev("Normalised", text)
		e.Metadata.Extra = []byte(`{"z": 1, "a": {"c": 2.0, "b": 1e0}}`)
		if _, err := s.Append(ctxT(t), eventstore.StreamAppend{StreamID: "s", StreamType: "thing", Expected: eventstore.Exact(int64(i)), Events: []eventstore.Event{e}}); err != nil {
			t.Fatalf("append %s: %v", text, err)
		}
	}
	rep, err := s.Verify(ctxT(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.CheckedEvents != int64(len(texts)) {
		t.Errorf("Verify = %+v, want %d intact events", rep, len(texts))
	}
}
