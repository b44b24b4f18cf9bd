package graph_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/transparency"
)

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLogProofs asks for the log's checkpoint and proofs as an auditor and
// checks them with the merkle library's verifiers; staff may not ask.
func TestLogProofs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	staff := e.token(t, "sam", domain.RoleStaff)
	auditor := e.token(t, "ann", domain.RoleAuditor)
	for i := range 5 {
		e.registerRisk(t, staff, "risk "+string(rune('A'+i)))
	}
	var events struct {
		Events struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	e.must(t, auditor, `{ events(first: 100) { edges { node { id } } } }`, nil, &events)
	n := len(events.Events.Edges)
	skey, _, err := transparency.GenerateKey("riskreg.test/log")
	if err != nil {
		t.Fatal(err)
	}
	key, err := transparency.ParseSigningKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := transparency.IntegrateTo(wctx, e.store, uint64(n), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}

	if r := e.post(t, auditor, `{ logCheckpoint { size } }`, nil); len(r.Errors) > 0 || string(r.Data) != `{"logCheckpoint":null}` {
		t.Errorf("logCheckpoint before any was signed: %s %+v", r.Data, r.Errors)
	}
	if _, _, err := transparency.SignLatest(ctx, e.pool, key, ""); err != nil {
		t.Fatal(err)
	}
	var cp struct {
		LogCheckpoint struct {
			Origin, RootHash, Note string
			Size                   int
		}
	}
	e.must(t, auditor, `{ logCheckpoint { origin size rootHash note signedAt } }`, nil, &cp)
	v, err := transparency.LoadVerifier(key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := transparency.OpenCheckpoint([]byte(cp.LogCheckpoint.Note), v)
	if err != nil || cp.LogCheckpoint.Size != n || int(opened.Size) != n || cp.LogCheckpoint.Origin != "riskreg.test/log" {
		t.Fatalf("checkpoint %+v: %v", cp, err)
	}
	root := unb64(t, cp.LogCheckpoint.RootHash)

	for i, edge := range events.Events.Edges {
		var p struct {
			EventInclusion struct {
				LeafIndex, TreeSize       int
				Entry, LeafHash, RootHash string
				Hashes                    []string
			}
		}
		e.must(t, auditor, `query($id: ID!) { eventInclusion(eventId: $id) { eventId leafIndex treeSize entry leafHash hashes rootHash } }`,
			vars{"id": edge.Node.ID}, &p)
		hashes := make([][]byte, len(p.EventInclusion.Hashes))
		for j, h := range p.EventInclusion.Hashes {
			hashes[j] = unb64(t, h)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(unb64(t, p.EventInclusion.Entry))
		if p.EventInclusion.LeafIndex != i || p.EventInclusion.TreeSize != n {
			t.Errorf("event %d: leaf %d of %d", i, p.EventInclusion.LeafIndex, p.EventInclusion.TreeSize)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), leaf, hashes, root); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	var c struct {
		LogConsistency struct {
			FromRoot, ToRoot string
			Hashes           []string
		}
	}
	e.must(t, auditor, `{ logConsistency(fromSize: 2) { fromSize toSize fromRoot toRoot hashes } }`, nil, &c)
	hashes := make([][]byte, len(c.LogConsistency.Hashes))
	for j, h := range c.LogConsistency.Hashes {
		hashes[j] = unb64(t, h)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 2, uint64(n), hashes, unb64(t, c.LogConsistency.FromRoot), root); err != nil {
		t.Error(err)
	}

	for _, q := range []struct{ token, query, code string }{
		{staff, `{ logCheckpoint { size } }`, "FORBIDDEN"},
		{auditor, `{ logConsistency(fromSize: 2, toSize: 1000) { toSize } }`, "BAD_USER_INPUT"},
		{auditor, `{ eventInclusion(eventId: "nope") { leafIndex } }`, "BAD_USER_INPUT"},
		{auditor, `{ eventInclusion(eventId: "00000000-0000-0000-0000-000000000001") { leafIndex } }`, "NOT_FOUND"},
	} {
		r := e.post(t, q.token, q.query, nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != q.code {
			t.Errorf("%s: %+v, want %s", q.query, r.Errors, q.code)
		}
	}

	var integrity struct {
		Integrity struct {
			Ok                           bool
			TreeSize, CheckpointsChecked int
			LatestCheckpoint             struct{ Size int }
		}
	}
	e.must(t, auditor, `{ integrity { ok treeSize checkpointsChecked latestCheckpoint { size } } }`, nil, &integrity)
	if !integrity.Integrity.Ok || integrity.Integrity.TreeSize != n || integrity.Integrity.CheckpointsChecked != 1 ||
		integrity.Integrity.LatestCheckpoint.Size != n {
		t.Errorf("integrity %+v", integrity.Integrity)
	}
}
