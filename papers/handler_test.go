package papers_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/papers"
)

func TestDownload(t *testing.T) {
	e := regtest.New(t)
	id := workload(t, e)
	tokens := auth.NewStore(e.Pool, time.Now)
	srv := httptest.NewServer(func() http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET /papers/{file}", papers.NewHandler(builder(e), papers.Bearer(tokens), regtest.Logger()))
		return mux
	}())
	defer srv.Close()
	token := func(role domain.Role) string {
		tok, _, err := tokens.Create(context.Background(), "someone", []domain.Role{role}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	get := func(path, tok string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	p, err := builder(e).Build(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []papers.Format{papers.FormatXLSX, papers.FormatPDF, papers.FormatCSV} {
		roles := []domain.Role{domain.RoleStaff}
		if f == papers.FormatCSV {
			roles = append(roles, domain.RoleCouncil, domain.RoleAuditCommittee, domain.RolePolicyCommission, domain.RoleAuditor, domain.RoleAdmin)
		}
		for _, role := range roles {
			resp, body := get("/papers/"+id+"."+string(f), token(role))
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != f.ContentType() {
				t.Fatalf("%s as %s: %d %s", f, role, resp.StatusCode, body)
			}
			var want bytes.Buffer
			if err := papers.Render(&want, p, f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want.Bytes()) {
				t.Errorf("%s as %s: the download differs from the paper of the same log position", f, role)
			}
		}
	}
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/papers/" + id + ".xlsx", "", http.StatusUnauthorized},
		{"/papers/" + id + ".xlsx", "rr_nonsense", http.StatusUnauthorized},
		{"/papers/" + id + ".xlsx", token(domain.RoleIntegration), http.StatusForbidden},
		{"/papers/" + id + ".docx", token(domain.RoleStaff), http.StatusNotFound},
		{"/papers/" + id, token(domain.RoleStaff), http.StatusNotFound},
		{"/papers/no-such-session.pdf", token(domain.RoleStaff), http.StatusNotFound},
	} {
		if resp, body := get(tc.path, tc.token); resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
}
