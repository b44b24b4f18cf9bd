package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a running API on a fresh database, served over loopback HTTP.
type env struct {
	pool   *pgxpool.Pool
	store  *eventstore.Store
	tokens *auth.Store
	api    *graph.Server
	srv    *httptest.Server
	logs   *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t testing.TB, opts ...func(*graph.Options)) *env {
	t.Helper()
	return newEnvOn(t, pgtest.NewPool(t), opts...)
}

// newEnvOn is newEnv on a pool of the caller's.
func newEnvOn(t testing.TB, pool *pgxpool.Pool, opts ...func(*graph.Options)) *env {
	t.Helper()
	store, err := app.NewStore(pool, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	e := &env{pool: pool, store: store, tokens: auth.NewStore(pool, time.Now), logs: &syncBuffer{}}
	runner, err := projection.NewRunner(projection.Config{Store: store, Logger: slog.New(slog.NewJSONHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("projection runner: %v", err)
		}
	})
	o := graph.Options{
		Register: register.New(store, time.Now),
		Store:    store,
		Reader:   projection.NewReader(store),
		Tokens:   e.tokens,
		Logger:   slog.New(slog.NewJSONHandler(e.logs, nil)),
	}
	for _, f := range opts {
		f(&o)
	}
	e.api = graph.NewServer(o)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.api.CloseSubscriptions)
	return e
}

// token issues a token for subject with roles.
func (e *env) token(t testing.TB, subject string, roles ...domain.Role) string {
	t.Helper()
	tok, _, err := e.tokens.Create(context.Background(), subject, roles, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// result is a GraphQL answer.
type result struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Header http.Header
	Raw    []byte `json:"-"` // the whole answer
}

// code returns the code of the first error, or "" when there is none.
func (r result) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// decode unmarshals the data into v and fails the test on errors.
func (r result) decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// vars is a GraphQL request's variables.
type vars = map[string]any

// post sends a query over HTTP POST with token ("" for none) and headers.
func (e *env) post(t testing.TB, token, query string, variables vars, header ...string) result {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		t.Fatal(err)
	}
	return e.send(t, token, body, header...)
}

func (e *env) send(t testing.TB, token string, body []byte, header ...string) result {
	t.Helper()
	r, _ := e.request(t, http.MethodPost, "", token, body, append([]string{"Content-Type", "application/json"}, header...)...)
	return r
}

// request sends a request with method, URL query string query, token (""
// for none), body and headers to the API, and returns the decoded answer and
// the body as it came.
func (e *env) request(t testing.TB, method, query, token string, body []byte, header ...string) (result, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := e.srv.URL
	if query != "" {
		target += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := result{Status: resp.StatusCode, Header: resp.Header, Raw: b}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %d %q: %v", resp.StatusCode, b, err)
	}
	return r, string(b)
}

// must posts and decodes into v, failing on any error.
func (e *env) must(t testing.TB, token, query string, variables vars, v any) {
	t.Helper()
	e.post(t, token, query, variables).decode(t, v)
}

// riskFields are the fields the tests read of a risk.
const riskFields = `id reference title status version flagged band inherent { score band assessedBy } createdAt updatedAt`

type riskOut struct {
	ID        string
	Reference string
	Title     string
	Status    string
	Version   int
	Flagged   bool
	Band      *string
	Inherent  *struct {
		Score      int
		Band       string
		AssessedBy string
	}
	CreatedAt time.Time
	UpdatedAt time.Time
}

type responseOut struct {
	ID      string
	Status  string
	Version int
}

// registerRisk registers a risk as staff and returns it.
func (e *env) registerRisk(t testing.TB, token, title string) riskOut {
	t.Helper()
	var out struct{ RegisterRisk riskOut }
	e.must(t, token, `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { `+riskFields+` } }`,
		vars{"in": riskInput(title)}, &out)
	return out.RegisterRisk
}

func riskInput(title string) map[string]any {
	return map[string]any{"title": title, "description": "cause -> event -> consequence",
		"category": "Operational", "source": "Audit Plan 2021", "owner": "Director"}
}

func (e *env) assess(t testing.TB, token, id string, version, likelihood, impact int) riskOut {
	t.Helper()
	var out struct{ AssessRisk riskOut }
	e.must(t, token, `mutation($in: AssessRiskInput!) { assessRisk(input: $in) { `+riskFields+` } }`,
		vars{"in": map[string]any{"id": id, "expectedVersion": version, "kind": "INHERENT",
			"likelihood": likelihood, "impact": impact, "rationale": "assessed"}}, &out)
	return out.AssessRisk
}

func (e *env) propose(t testing.TB, token, riskID string) responseOut {
	t.Helper()
	var out struct{ ProposeResponse responseOut }
	e.must(t, token, `mutation($in: ProposeResponseInput!) { proposeResponse(input: $in) { id status version } }`,
		vars{"in": map[string]any{"riskId": riskID, "title": "Treat it", "description": "plan", "option": "REDUCE",
			"owner": "Director", "dueDate": "2027-06-30"}}, &out)
	return out.ProposeResponse
}

// transition runs a staff transition mutation (submitResponse, ...).
func (e *env) transition(t testing.TB, token, mutation, id string, version int) responseOut {
	t.Helper()
	var out map[string]responseOut
	e.must(t, token, `mutation($in: ResponseTransitionInput!) { `+mutation+`(input: $in) { id status version } }`,
		vars{"in": map[string]any{"id": id, "expectedVersion": version}}, &out)
	return out[mutation]
}

const decideMutation = `mutation($in: RecordDecisionInput!) { recordDecision(input: $in) { id kind body recordedBy subjects { id kind versionSeen } effects { type streamId decisionId causationId actor } } }`

// decide records a decision with one subject.
func (e *env) decide(t testing.TB, token, body, kind, subject string, version int) result {
	t.Helper()
	in := map[string]any{"body": body, "session": "Session 1", "kind": kind, "text": "Decided.",
		"subjects": []any{map[string]any{"id": subject, "expectedVersion": version}}}
	if kind == "ACCEPT_RISK" {
		in["expiresOn"] = "2030-01-01"
	}
	return e.post(t, token, decideMutation, vars{"in": in})
}

// bigQuery repeats s n times.
func bigQuery(s string, n int) string { return strings.Repeat(s, n) }
