package graph_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
)

// A 401 for a genuine token that expired or was revoked says so; an unknown
// or forged token gets the plain answer.
func TestUnauthenticatedSaysWhyForGenuineTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	revoked, tok, err := e.tokens.Create(ctx, "rae", []domain.Role{domain.RoleStaff}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	expired, _, err := e.tokens.Create(ctx, "eve", []domain.Role{domain.RoleStaff}, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	forged := revoked[:strings.LastIndex(revoked, "_")+1] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct{ name, token, want string }{
		{"revoked", revoked, "the bearer token was revoked; ask for a new one"},
		{"expired", expired, "the bearer token has expired; ask for a new one"},
		{"forged", forged, "a valid bearer token is required"},
		{"unknown", "rr_0123456789abcdef0123456789abcdef_AAAA", "a valid bearer token is required"},
	} {
		r := e.post(t, tc.token, `{ me { subject } }`, nil)
		if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" || len(r.Errors) != 1 || r.Errors[0].Message != tc.want {
			t.Errorf("%s token: %d %+v, want 401 UNAUTHENTICATED %q", tc.name, r.Status, r.Errors, tc.want)
		}
	}
}
