package main

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// TestTokenAccessStream checks that token create and revoke append events to
// the access stream, without the token or its hash.
func TestTokenAccessStream(t *testing.T) {
	url := pgtest.NewDatabase(t)
	token := strings.TrimSpace(mustRiskreg(t, "token", "create", "--subject", "clerk", "--role", "council",
		"--expires", "24h", "--database-url", url))
	id := strings.Split(token, "_")[1]
	mustRiskreg(t, "token", "revoke", id, "--database-url", url)

	pool, store := openStore(t, url)
	events, err := store.ReadStream(t.Context(), auth.AccessStream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != "TokenIssued" || events[1].Type != "TokenRevoked" {
		t.Fatalf("access stream: %+v", events)
	}
	var hash []byte
	if err := pool.QueryRow(t.Context(), "SELECT secret_hash FROM auth_tokens WHERE token_id = $1", id).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	issued := string(events[0].Data)
	for _, want := range []string{`"tokenId":"` + id, `"subject":"clerk"`, `"roles":["council"]`, `"expiresAt":"`, `"issuedBy":"cli:`} {
		if !strings.Contains(strings.ReplaceAll(issued, " ", ""), want) {
			t.Errorf("TokenIssued %s lacks %s", issued, want)
		}
	}
	for _, e := range events {
		secret := strings.TrimPrefix(token, "rr_"+id+"_")
		if strings.Contains(string(e.Data), secret) || strings.Contains(string(e.Data), hex.EncodeToString(hash)) {
			t.Errorf("%s carries the token or its hash: %s", e.Type, e.Data)
		}
	}
	if !strings.Contains(string(events[1].Data), id) || !strings.HasPrefix(events[1].Metadata.Actor, "cli:") {
		t.Errorf("TokenRevoked %s by %q", events[1].Data, events[1].Metadata.Actor)
	}
}
