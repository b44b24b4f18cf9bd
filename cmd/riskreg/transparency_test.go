package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/transparency"
)

// httpTiles reads tiles from a log's /log/tile/ (C2SP paths) for tlog.
type httpTiles struct {
	t    *testing.T
	base string
}

func (h httpTiles) Height() int { return transparency.TileHeight }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		// tlog's paths carry the height: tile/8/L/N; C2SP's do not.
		p := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		code, body := get(h.t, h.base+"/log/"+p)
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", p, code, body)
		}
		out[i] = []byte(body)
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestServeSignsCheckpoints generates a key, runs serve with it and checks
// that it signs checkpoints of the growing log, writes them to
// --checkpoint-dir and serves tiles a standard tlog client verifies.
func TestServeSignsCheckpoints(t *testing.T) {
	dir := t.TempDir()
	out := mustRiskreg(t, "keys", "generate", "--out", dir, "--name", "riskreg.test/log")
	if !strings.Contains(out, "riskreg.test/log+") {
		t.Errorf("keys generate printed:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "riskreg.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("riskreg.key: %v %v", fi, err)
	}
	if _, _, code := riskreg(t, "keys", "generate", "--out", dir); code == 0 {
		t.Error("keys generate overwrote an existing key")
	}
	pub, err := os.ReadFile(filepath.Join(dir, "riskreg.pub"))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := transparency.LoadVerifier(string(pub))
	if err != nil {
		t.Fatal(err)
	}

	url := pgtest.NewDatabase(t)
	cpDir := filepath.Join(dir, "checkpoints")
	s := startServe(t, "--addr", "127.0.0.1:0", "--database-url", url, "--signing-key", filepath.Join(dir, "riskreg.key"),
		"--checkpoint-interval", "50ms", "--checkpoint-dir", cpDir)
	base := "http://" + s.addr
	if code, _ := get(t, base+"/log/checkpoint"); code != http.StatusNotFound {
		t.Errorf("GET /log/checkpoint of an empty log = %d, want 404", code)
	}
	_, store := openStore(t, url)
	for i := range 30 {
		appendEvents(t, store, fmt.Sprintf("risk-%d", i%7), 10, `{"title": "t"}`)
	}
	var cp transparency.Checkpoint
	deadline := time.Now().Add(time.Minute)
	for cp.Size < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of 300 leaves within a minute; last %d; log:\n%s", cp.Size, s.logs)
		}
		time.Sleep(20 * time.Millisecond)
		code, body := get(t, base+"/log/checkpoint")
		if code != http.StatusOK {
			continue
		}
		if cp, err = transparency.OpenCheckpoint([]byte(body), verifier); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(cpDir, "checkpoint.300")); err != nil || !strings.HasPrefix(string(b), "riskreg.test/log\n300\n") {
		t.Errorf("checkpoint file: %q %v", b, err)
	}
	// A standard tlog client reads the tiles and checks them against the
	// signed root.
	var root tlog.Hash
	copy(root[:], cp.Root)
	hr := tlog.TileHashReader(tlog.Tree{N: 300, Hash: root}, httpTiles{t, base})
	if h, err := tlog.TreeHash(300, hr); err != nil || h != root {
		t.Errorf("tlog.TreeHash over the served tiles = %v, %v; want %v", h, err, root)
	}
	if _, err := tlog.ProveRecord(300, 123, hr); err != nil {
		t.Errorf("tlog.ProveRecord over the served tiles: %v", err)
	}
	for path, want := range map[string]int{
		"/log/tile/0/000":            http.StatusOK,
		"/log/tile/0/001.p/44":       http.StatusOK,
		"/log/tile/0/001":            http.StatusNotFound,
		"/log/tile/0/x":              http.StatusBadRequest,
		"/log/tile/entries/000":      http.StatusUnauthorized,
		"/log/inclusion?index=1":     http.StatusUnauthorized,
		"/log/consistency?from=5":    http.StatusOK,
		"/log/consistency?from=5000": http.StatusBadRequest,
	} {
		if code, body := get(t, base+path); code != want {
			t.Errorf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
	auditor := strings.TrimSpace(mustRiskreg(t, "token", "create", "--subject", "ann", "--role", "auditor", "--database-url", url))
	staff := strings.TrimSpace(mustRiskreg(t, "token", "create", "--subject", "sam", "--role", "staff", "--database-url", url))
	code, bundle := getAuth(t, base+"/log/tile/entries/001.p/44", auditor)
	if code != http.StatusOK {
		t.Fatalf("entries: %d %s", code, bundle)
	}
	for i := range 44 {
		n := int(bundle[0])<<8 | int(bundle[1])
		e, err := transparency.DecodeEntry(bundle[2 : 2+n])
		if err != nil || e.Index != uint64(256+i) {
			t.Fatalf("entry %d: %+v %v", i, e, err)
		}
		bundle = bundle[2+n:]
	}
	if len(bundle) != 0 {
		t.Errorf("%d bytes after the entries", len(bundle))
	}
	if code, body := getAuth(t, base+"/log/inclusion?index=7&size=300", auditor); code != http.StatusOK {
		t.Errorf("inclusion as an auditor: %d %s", code, body)
	}
	if code, _ := getAuth(t, base+"/log/inclusion?index=7", staff); code != http.StatusForbidden {
		t.Errorf("inclusion as staff: %d, want 403", code)
	}
	s.terminate(t)
}

// getAuth is get with a bearer token.
func getAuth(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
