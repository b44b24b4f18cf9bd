package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/console"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is riskreg serve's handlers (the console at /, the API at /graphql)
// on a fresh database, over loopback HTTP.
type env struct {
	pool     *pgxpool.Pool
	store    *eventstore.Store
	register *register.Service
	reader   *projection.Reader
	tokens   *auth.Store
	console  *console.Console
	srv      *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, pgtest.NewPool(t))
}

// newEnvOn is newEnv on a pool of the caller's; wrap, when given, wraps the
// server's handler.
func newEnvOn(t testing.TB, pool *pgxpool.Pool, wrap ...func(http.Handler) http.Handler) *env {
	t.Helper()
	store, err := eventstore.New(pool, eventstore.Config{Upcasters: register.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner, err := projection.NewRunner(projection.Config{Store: store, Logger: logger})
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
	e := &env{pool: pool, store: store, register: register.New(store, time.Now), reader: projection.NewReader(store),
		tokens: auth.NewStore(pool, time.Now)}
	api := graph.NewServer(graph.Options{Register: e.register, Store: store, Reader: e.reader, Tokens: e.tokens, Logger: logger,
		AllowedOrigins: []string{"app.example.org"}})
	t.Cleanup(api.CloseSubscriptions)
	mux := http.NewServeMux()
	mux.Handle("/graphql", api)
	mux.Handle("/graphql/", api)
	e.console = console.New(console.Options{Register: e.register, Store: store, Reader: e.reader, Tokens: e.tokens, Logger: logger})
	mux.Handle("/", e.console)
	var h http.Handler = mux
	for _, w := range wrap {
		h = w(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// token issues a token for subject with roles.
func (e *env) token(t testing.TB, subject string, roles ...domain.Role) (string, auth.Token) {
	t.Helper()
	tok, desc, err := e.tokens.Create(context.Background(), subject, roles, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok, desc
}

// principal returns the principal of subject with roles, for setting up
// data through register.Service.
func principal(subject string, roles ...domain.Role) register.Request {
	return register.Request{Principal: domain.Principal{Subject: subject, Roles: roles}, RequestID: "setup-" + subject}
}

// client is a browser-like HTTP client with its own cookies that does not
// follow redirects.
type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func (e *env) client(t testing.TB) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: e.srv.URL, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get returns a page's status and body.
func (c *client) get(path string) (int, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends a form and returns the status, the Location header and the body.
func (c *client) post(path string, form url.Values) (int, string, string) {
	c.t.Helper()
	resp, err := c.http.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var hiddenField = regexp.MustCompile(`name="(csrf|idem)" value="([^"]*)"`)

// hidden returns the value of the first hidden csrf or idem field of page.
func hidden(t testing.TB, page, name string) string {
	t.Helper()
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no %s field in the page", name)
	return ""
}

// signIn signs c in with token.
func (c *client) signIn(token string) {
	c.t.Helper()
	_, page := c.get("/login")
	status, loc, body := c.post("/login", url.Values{"csrf": {hidden(c.t, page, "csrf")}, "token": {token}, "next": {"/"}})
	if status != http.StatusSeeOther || loc != "/" {
		c.t.Fatalf("sign in: %d %q %s", status, loc, body)
	}
}

// mustContain fails unless body contains every one of want.
func mustContain(t testing.TB, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("the page lacks %q:\n%s", w, body)
		}
	}
}
