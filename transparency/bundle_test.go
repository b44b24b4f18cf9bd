package transparency

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func testKey(t testing.TB) (*SigningKey, note.Verifier) {
	t.Helper()
	skey, vkey, err := GenerateKey("riskreg.test/log")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseSigningKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || k.Verifier() != vkey {
		t.Fatalf("verifier %q vs %q: %v", k.Verifier(), vkey, err)
	}
	return k, v
}

// TestBundleRoundTripAndEveryFlippedByte exports bundles (every event; two
// streams with proofs; with a consistency proof from a held checkpoint),
// verifies them, and checks that flipping any one byte of them fails.
func TestBundleRoundTripAndEveryFlippedByte(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	key, v := testKey(t)
	runIntegrator(t, store, IntegratorConfig{})
	for i := range 3 {
		appendN(t, ctx, store, fmt.Sprintf("risk-%d", i%3), 1, 1)
	}
	waitIntegrated(t, ctx, store.Pool())
	held, _, err := SignLatest(ctx, store.Pool(), key, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		appendN(t, ctx, store, fmt.Sprintf("risk-%d", i%3), 1+i%2, 2)
	}
	waitIntegrated(t, ctx, store.Pool())
	if _, _, err := SignLatest(ctx, store.Pool(), key, ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts ExportOptions
		held *Checkpoint
		want int
		// stride: flip every stride-th byte (1: every byte; the others
		// sample, and so does every case under -race, to keep the default
		// run short).
		stride int
	}{
		{"every event", ExportOptions{}, nil, 7, 1},
		{"two streams", ExportOptions{Streams: []string{"risk-2", "risk-0"}}, nil, 4, 5},
		{"since a held checkpoint", ExportOptions{Since: &held}, &held, 7, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			sum, err := ExportBundle(ctx, store, &buf, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Events != tc.want || sum.TreeSize != 7 {
				t.Fatalf("exported %+v", sum)
			}
			bundle := buf.Bytes()
			got, problems, err := VerifyBundle(bytes.NewReader(bundle), v, tc.held)
			if err != nil || len(problems) > 0 || got.Events != tc.want {
				t.Fatalf("verify of an intact bundle: %+v %v %v", got, problems, err)
			}
			// Every (stride-th) byte, its lowest bit flipped (and, for letters, its case:
			// JSON's keys match case-insensitively in Go).
			if raceEnabled {
				tc.stride = 7
			}
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := w * tc.stride; i < len(bundle); i += 2 * tc.stride {
						mask := byte(0x01)
						if i%4 >= 2 && (bundle[i]|0x20 >= 'a' && bundle[i]|0x20 <= 'z') {
							mask = 0x20
						}
						flipped := bytes.Clone(bundle)
						flipped[i] ^= mask
						_, problems, err := VerifyBundle(bytes.NewReader(flipped), v, tc.held)
						if err == nil && len(problems) == 0 {
							lo, hi := max(i-60, 0), min(i+20, len(bundle))
							t.Errorf("flipping byte %d (%q) with %#x went unnoticed: %q", i, bundle[i], mask, bundle[lo:hi])
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
	// A held checkpoint of a forked log (same size, another root) is caught.
	forked, err := key.Sign(held.Size, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := ExportBundle(ctx, store, &buf, ExportOptions{Since: &held}); err != nil {
		t.Fatal(err)
	}
	if _, problems, err := VerifyBundle(&buf, v, &forked); err != nil || len(problems) == 0 {
		t.Errorf("a bundle checked against a forked checkpoint: %v %v", problems, err)
	}
}
