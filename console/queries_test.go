package console_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/register"
)

type counterKey struct{}

// queryCounter counts the queries sent on behalf of a request whose
// context carries a counter (see countQueries).
type queryCounter struct{}

func (queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if n, ok := ctx.Value(counterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	return ctx
}

func (queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// countingEnv is an env whose server counts the queries of each request.
func countingEnv(t *testing.T) (*env, *atomic.Int64) {
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = queryCounter{}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var n atomic.Int64
	e := newEnvOn(t, pool, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), counterKey{}, &n)))
		})
	})
	return e, &n
}

// TestPagesReadInAFixedNumberOfQueries checks that no page sends more
// queries when it shows more: lists, traces and timelines read in batches.
func TestPagesReadInAFixedNumberOfQueries(t *testing.T) {
	e, n := countingEnv(t)
	c := e.client(t)
	tok, _ := e.token(t, "ann", domain.RoleAuditor)
	c.signIn(tok)
	ctx := context.Background()
	staff := principal("sam", domain.RoleStaff)

	small, _ := recommended(t, e)
	big, _ := recommended(t, e)
	for k := range 4 {
		resp, err := e.register.ProposeResponse(ctx, staff, big.ID(), domain.ResponseDetails{Title: fmt.Sprintf("extra %d", k),
			Option: domain.ResponseOptionShare, Owner: "o"})
		if err == nil {
			_, err = e.register.RecordDecision(ctx, principal("ac", domain.RoleAuditCommittee), register.DecisionInput{
				Body: domain.BodyAuditCommittee, Session: "s", Kind: domain.DecisionKindAdvice, Text: "advice",
				Subjects: []register.SubjectInput{{ID: resp.ID(), ExpectedVersion: 1}, {ID: big.ID(), ExpectedVersion: 2 + k}}})
		}
		if err == nil {
			_, err = e.register.AssessRisk(ctx, staff, big.ID(), 2+k, domain.RatingKindResidual, 1+k, 2, "again")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	queries := func(path string) int64 {
		t.Helper()
		c.get(path) // warm: the read models catch up with the writes above
		n.Store(0)
		if status, body := c.get(path); status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		return n.Load()
	}
	if a, b := queries("/risks/"+small.ID()), queries("/risks/"+big.ID()); a != b {
		t.Fatalf("risk page: %d queries with 1 response and 1 decision, %d with 5 and 5", a, b)
	}
	register1, heat1, decisions1 := queries("/"), queries("/heatmap"), queries("/decisions")
	for range 8 {
		recommended(t, e)
	}
	if got := queries("/"); got != register1 {
		t.Fatalf("register: %d queries with 2 risks, %d with 10", register1, got)
	}
	if got := queries("/heatmap"); got != heat1 {
		t.Fatalf("heat map: %d queries with 2 risks, %d with 10", heat1, got)
	}
	if got := queries("/decisions"); got != decisions1 {
		t.Fatalf("decisions: %d queries with 6 decisions, %d with 14", decisions1, got)
	}
	t.Logf("queries per page: risk %d, register %d, heat map %d, decisions %d", queries("/risks/"+big.ID()), register1, heat1, decisions1)
}
