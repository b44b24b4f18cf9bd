// Package console is riskreg's web console: server-rendered pages for the
// secretariat, the clerks of the governance bodies and auditors, served by
// "riskreg serve" at / next to /graphql.
//
// It reads through the read models (projection.Reader), the log
// (eventstore.Store) and the register's aggregates (register.Service), and
// writes only through register.Service, exactly as the GraphQL API does.
// Users sign in with their API bearer token; the session it opens is tied to
// that token (see sessions), so revoking the token ends the session. Every
// form carries the session's CSRF token and an idempotency key, and every
// page works without JavaScript; console.js only makes the replay slider
// answer as it moves.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

//go:embed templates static
var files embed.FS

// Checkpoint is a signed checkpoint of the log, for the integrity page.
type Checkpoint struct {
	// Size is the number of events the checkpoint covers.
	Size int64
	// RootHash is the hash it commits to, as text.
	RootHash string
	// SignedAt is when it was signed.
	SignedAt time.Time
	// Note is the signed note itself, shown as it is.
	Note string
}

// Options configure the console.
type Options struct {
	Register *register.Service
	Store    *eventstore.Store
	// Reader reads the read models; the projections that keep them must run.
	Reader *projection.Reader
	Tokens *auth.Store
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// IdleTimeout ends a session unused this long; 12 hours when zero.
	IdleTimeout time.Duration
	// LatestCheckpoint, when not nil, returns the latest signed checkpoint
	// of the log (found is false while there is none) for the integrity
	// page; nil means the log is not signed.
	LatestCheckpoint func(ctx context.Context) (c Checkpoint, found bool, err error)
}

// Console serves the console's pages. It is an http.Handler.
type Console struct {
	opt      Options
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	static   http.Handler

	verifyMu   sync.Mutex // one verification at a time
	lastMu     sync.Mutex
	lastVerify *verification

	caughtUpMu sync.Mutex
	caughtUp   eventstore.Position // how far the read models were seen to follow this process's appends
}

// New returns the console for o.
func New(o Options) *Console {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 12 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := &Console{opt: o, pages: parsePages(),
		sessions: &sessions{pool: o.Store.Pool(), tokens: o.Tokens, now: o.Now, idle: o.IdleTimeout}}
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // go:embed checked that the directory exists
	}
	c.static = http.StripPrefix("/static/", http.FileServerFS(static))

	m := http.NewServeMux()
	m.HandleFunc("GET /static/", c.serveStatic)
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.Handle("POST /logout", c.signedIn(c.logout))
	m.Handle("GET /{$}", c.signedIn(c.registerPage))
	m.Handle("GET /heatmap", c.signedIn(c.heatMapPage))
	m.Handle("GET /risks/new", c.signedIn(c.newRiskPage))
	m.Handle("POST /risks", c.signedIn(c.registerRisk))
	m.Handle("GET /risks/{id}", c.signedIn(c.riskPage))
	m.Handle("POST /risks/{id}/{action}", c.signedIn(c.riskAction))
	m.Handle("POST /responses/{id}/{action}", c.signedIn(c.responseAction))
	m.Handle("GET /responses", c.signedIn(c.responsesPage))
	m.Handle("GET /decisions", c.signedIn(c.decisionsPage))
	m.Handle("POST /decisions", c.signedIn(c.recordDecision))
	m.Handle("GET /decisions/new", c.signedIn(c.newDecisionPage))
	m.Handle("GET /decisions/{id}", c.signedIn(c.decisionPage))
	m.Handle("GET /integrity", c.signedIn(c.integrityPage))
	m.Handle("POST /integrity/verify", c.signedIn(c.verify))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, http.StatusNotFound, "There is no such page.")
	})
	c.mux = m
	return c
}

// csp keeps every page to the console's own scripts, styles and images.
const csp = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.opt.Logger.ErrorContext(r.Context(), "console: panic", "path", r.URL.Path, "panic", v)
			c.fail(w, r, nil, http.StatusInternalServerError, internalMessage)
		}
	}()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	c.mux.ServeHTTP(w, r)
}

// maxFormBytes bounds a form's body.
const maxFormBytes = 256 << 10

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	c.static.ServeHTTP(w, r)
}

type sessionKey struct{}

// handler is a console handler for a signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, s session)

// signedIn runs h for a signed-in user: others are sent to the sign-in page
// (a GET) or refused (any other method). A POST must carry the session's
// CSRF token in the form field "csrf".
func (c *Console) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		var value string
		if ck, err := r.Cookie(sessionCookie); err == nil {
			value = ck.Value
		}
		s, err := c.sessions.lookup(r.Context(), value)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				c.fail(w, r, err, 0, "")
				return
			}
			if value != "" {
				setCookie(w, r, sessionCookie, "", -1)
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, http.StatusUnauthorized, "You are not signed in, or your session ended. Sign in and try again.")
			return
		}
		if r.Method != http.MethodGet {
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, nil, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
				c.fail(w, r, nil, http.StatusForbidden, "The form has expired or did not come from this console (its security token is missing or wrong). Reload the page and try again.")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), s)
	})
}

// sessionOf returns the session of a signed-in request, if any.
func sessionOf(r *http.Request) (session, bool) {
	s, ok := r.Context().Value(sessionKey{}).(session)
	return s, ok
}

// request returns the register request of a form: the principal, a request
// id (also the correlation id) and the form's idempotency key.
func request(r *http.Request, s session) register.Request {
	id := randomString(12)
	return register.Request{Principal: s.principal, RequestID: id, CorrelationID: id,
		IdempotencyKey: strings.TrimSpace(r.PostForm.Get("idem"))}
}

// current waits until the read models reflect every write this process
// made before the request, so that a page shown after a form never misses
// the form's write. A slow projection does not fail the page: it is shown
// from the read models as they are.
func (c *Console) current(ctx context.Context) {
	pos := c.opt.Store.LastAppended()
	c.caughtUpMu.Lock()
	done := pos.Compare(c.caughtUp) <= 0
	c.caughtUpMu.Unlock()
	if done {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, readYourWritesTimeout)
	defer cancel()
	if err := c.opt.Reader.WaitFor(wctx, pos); err != nil {
		if ctx.Err() == nil {
			c.opt.Logger.Warn("console: read models behind this process's writes; showing them as they are", "err", err)
		}
		return
	}
	c.caughtUpMu.Lock()
	if pos.Compare(c.caughtUp) > 0 {
		c.caughtUp = pos
	}
	c.caughtUpMu.Unlock()
}

// readYourWritesTimeout bounds how long a page waits for the read models.
const readYourWritesTimeout = 5 * time.Second

// can reports whether the principal may take action a.
func can(p domain.Principal, a domain.Action) bool { return p.Authorize(a) == nil }

// clerkOf returns the bodies whose decisions p records.
func clerkOf(p domain.Principal) []domain.Body {
	var out []domain.Body
	for _, b := range []domain.Body{domain.BodyAuditCommittee, domain.BodyPolicyCommission, domain.BodyCouncil} {
		if p.AuthorizeDecision(b) == nil {
			out = append(out, b)
		}
	}
	return out
}
