package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/papers"
)

// A user signed in to the console downloads a session's paper with the
// console's cookie session, as serve mounts the papers beside the console;
// the roles that may read papers are the same as with a bearer token.
func TestPapersWithTheConsoleSession(t *testing.T) {
	var downloads http.Handler
	e := newEnvOn(t, pgtest.NewPool(t), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/papers/") {
				downloads.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /papers/{file}", papers.NewHandler(&papers.Builder{Store: e.store, Reader: e.reader, Register: e.register},
		papers.Either(papers.Bearer(e.tokens), e.console.Principal), slog.New(slog.DiscardHandler)))
	downloads = mux
	date, err := domain.ParseDate("2030-01-01")
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.register.ScheduleSession(context.Background(), principal("setup", domain.RoleStaff), domain.BodyCouncil, date, "Council")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.reader.WaitFor(ctx, e.store.LastAppended()); err != nil {
		t.Fatal(err)
	}
	path := "/papers/" + s.ID() + ".csv"

	anonymous := e.client(t)
	if status, _ := anonymous.get(path); status != http.StatusUnauthorized {
		t.Errorf("without a session: %d", status)
	}
	auditor := e.client(t)
	tok, _ := e.token(t, "ada", domain.RoleAuditor)
	auditor.signIn(tok)
	status, body := auditor.get(path)
	if status != http.StatusOK || !strings.Contains(body, "Summary,Session,Council") {
		t.Errorf("an auditor's download: %d %.200s", status, body)
	}
	integration := e.client(t)
	tok, _ = e.token(t, "bot", domain.RoleIntegration)
	integration.signIn(tok)
	if status, _ := integration.get(path); status != http.StatusForbidden {
		t.Errorf("an integration's download: %d", status)
	}
	// A request that sends a token is held to it, cookie or not.
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := auditor.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bad token with a good cookie: %d", resp.StatusCode)
	}
}
