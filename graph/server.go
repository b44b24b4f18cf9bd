package graph

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	coderws "github.com/coder/websocket"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgretry"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
	"github.com/riskreg/riskreg/transparency"
)

// Authenticator turns a bearer token into a principal, and tells which
// tokens are still active (for the websockets that stay open on them);
// *auth.Store is one.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (domain.Principal, error)
	ActiveTokens(ctx context.Context, ids []string) (map[string]bool, error)
}

// Options configure the GraphQL endpoint. Zero limits take the defaults.
type Options struct {
	Register *register.Service
	Store    *eventstore.Store
	// Reader reads the read models; the projections that keep them must
	// run (projection.Runner), in this process or another.
	Reader *projection.Reader
	Tokens Authenticator
	Logger *slog.Logger
	// Metrics, when not nil, receives the API's metrics.
	Metrics *Metrics
	// DisableIntrospection turns introspection off (it is on for every
	// authenticated caller otherwise).
	DisableIntrospection bool
	// AllowedOrigins are the browser origins (host patterns, as in
	// coder/websocket's OriginPatterns) allowed to call the API across
	// origins; empty means none: CORS stays off.
	AllowedOrigins []string
	// ReviewPolicy sets the risks' next review dates; zero means
	// domain.DefaultReviewPolicy.
	ReviewPolicy domain.ReviewPolicy

	ComplexityLimit  int   // default 20000
	DepthLimit       int   // default 12; introspection fields do not count
	AliasLimit       int   // default 20
	ParserTokenLimit int   // default 15000
	MaxBodyBytes     int64 // default 1 MiB
	APQCacheSize     int   // default 1000 queries

	// Websockets (docs/api.md): a principal's open sockets, a socket's
	// subscriptions, the bytes waiting to be sent on one socket, and how
	// long a message may wait for room there (or be written) before the
	// socket is closed with CloseSlowClient. TokenCheckInterval is how
	// often the tokens of open sockets are checked: a revoked or expired
	// token's sockets close with CloseUnauthorized within it.
	MaxWebsocketsPerPrincipal int           // default 8
	MaxSubscriptionsPerSocket int           // default 16
	WebsocketSendBuffer       int64         // default 1 MiB
	WebsocketWriteTimeout     time.Duration // default 10s
	TokenCheckInterval        time.Duration // default 1s

	// ConsistencyTimeout bounds a request's wait for the read models to
	// reach its consistency token; default ConsistencyTimeout.
	ConsistencyTimeout time.Duration
}

func (c *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.ComplexityLimit, 20000)
	def(&c.DepthLimit, 12)
	def(&c.AliasLimit, 20)
	def(&c.ParserTokenLimit, 15000)
	def(&c.APQCacheSize, 1000)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	def(&c.MaxWebsocketsPerPrincipal, 8)
	def(&c.MaxSubscriptionsPerSocket, 16)
	if c.WebsocketSendBuffer <= 0 {
		c.WebsocketSendBuffer = 1 << 20
	}
	if c.WebsocketWriteTimeout <= 0 {
		c.WebsocketWriteTimeout = 10 * time.Second
	}
	if c.TokenCheckInterval <= 0 {
		c.TokenCheckInterval = time.Second
	}
	if c.ConsistencyTimeout <= 0 {
		c.ConsistencyTimeout = ConsistencyTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the /graphql endpoint: queries and mutations over POST and GET,
// subscriptions over websocket (graphql-transport-ws and graphql-ws).
type Server struct {
	cfg      Options
	handler  http.Handler
	closing  chan struct{}
	closeMu  sync.Once
	resolver *Resolver

	sessions  *auth.Watcher // the tokens of open websockets
	socketsMu sync.Mutex
	sockets   map[string]int // open websockets by principal subject
}

// NewServer returns the endpoint for cfg.
func NewServer(cfg Options) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, closing: make(chan struct{}), sockets: map[string]int{}}
	s.sessions = auth.NewWatcher(auth.WatcherConfig{Check: cfg.Tokens.ActiveTokens, Interval: cfg.TokenCheckInterval, Logger: cfg.Logger})
	s.resolver = &Resolver{Register: cfg.Register, Store: cfg.Store, Reader: cfg.Reader, Logger: cfg.Logger,
		ReviewPolicy: cmp.Or(cfg.ReviewPolicy, domain.DefaultReviewPolicy)}
	if cfg.Store != nil {
		s.resolver.Log = transparency.NewLog(cfg.Store)
	}
	schema := NewExecutableSchema(Config{Resolvers: s.resolver, Complexity: complexity()})

	srv := handler.New(schema)
	srv.AddTransport(transport.Websocket{
		Implementation: wsImplementation{srv: s, accept: coderws.AcceptOptions{
			OriginPatterns: cfg.AllowedOrigins,
		}},
		InitFunc:              s.websocketInit,
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 10 * time.Second,
		PingPongInterval:      10 * time.Second,
		CloseFunc:             s.websocketClosed,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(cfg.ParserTokenLimit)
	srv.SetErrorPresenter(errorPresenter(cfg.Logger))
	srv.SetRecoverFunc(recoverFunc(cfg.Logger))
	if !cfg.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](cfg.APQCacheSize)})
	srv.Use(operationChecks{schema: schema.Schema(), introspection: !cfg.DisableIntrospection})
	srv.Use(shapeLimit{maxDepth: cfg.DepthLimit, maxAliases: cfg.AliasLimit})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	srv.AroundOperations(s.aroundOperation)
	srv.AroundResponses(s.aroundResponse)
	srv.Use(consistency{reader: cfg.Reader, timeout: cfg.ConsistencyTimeout, logger: cfg.Logger})

	s.handler = withCORS(cfg.AllowedOrigins, withExplorer(!cfg.DisableIntrospection, s.withRequest(s.checkRequest(withConsistencyToken(srv)))))
	return s
}

// ServeHTTP serves /graphql.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Subscriptions returns how many subscriptions are running: each holds a
// goroutine that follows the log, and ends when its client leaves.
func (s *Server) Subscriptions() int { return int(s.resolver.subscriptions.Load()) }

// CloseSubscriptions ends every websocket connection with a normal close
// frame; call it when the server shuts down. New connections are refused.
func (s *Server) CloseSubscriptions() {
	s.closeMu.Do(func() { close(s.closing) })
}

// requestState is what one HTTP request carries through the layers.
type requestState struct {
	id        string
	mu        sync.Mutex
	operation string
	principal string
	// unavailable is set when an answer is UNAVAILABLE: the HTTP status
	// becomes 503.
	unavailable bool
}

type requestKey struct{}

// RequestID returns the id of the request ctx belongs to: the client's
// X-Request-ID, or one made up when it sent none.
func RequestID(ctx context.Context) string {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return st.id
	}
	return ""
}

// maxRequestIDLen bounds a client's X-Request-ID; a longer one is replaced.
const maxRequestIDLen = 128

// withRequest gives each request an id, a body limit, a principal from its
// bearer token, and one log line when it ends.
func (s *Server) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > maxRequestIDLen || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			id = newRequestID()
		}
		st := &requestState{id: id}
		ctx := context.WithValue(r.Context(), requestKey{}, st)
		w.Header().Set("X-Request-ID", id)
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, CodeBadUserInput, "the request body is over the size limit", id)
			s.cfg.Logger.InfoContext(ctx, "request", "request_id", id, "method", r.Method, "status", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)

		websocket := r.Header.Get("Upgrade") != ""
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, st: st}
		header := r.Header.Get("Authorization")
		if websocket {
			session := &wsSession{srv: s}
			defer session.release()
			ctx = context.WithValue(ctx, wsSessionKey{}, session)
		}
		switch {
		case header != "" || !websocket:
			p, err := s.authenticate(ctx, header)
			if err != nil {
				s.refuse(sw, err, id)
				break
			}
			st.principal = p.Subject
			next.ServeHTTP(sw, r.WithContext(auth.WithPrincipal(ctx, p)))
		default:
			// Browsers cannot set headers on a websocket: the token comes
			// in connection_init (websocketInit).
			next.ServeHTTP(sw, r.WithContext(ctx))
		}

		st.mu.Lock()
		op, who := st.operation, st.principal
		st.mu.Unlock()
		s.cfg.Logger.InfoContext(ctx, "request", "request_id", id, "method", r.Method, "status", sw.status,
			"operation", op, "principal", who, "duration_ms", float64(time.Since(start).Microseconds())/1000, "websocket", websocket)
	})
}

// authenticate returns the principal of an Authorization header's bearer
// token; on a websocket it notes the token, whose revocation closes it.
func (s *Server) authenticate(ctx context.Context, header string) (domain.Principal, error) {
	token, ok := auth.BearerToken(header)
	if !ok {
		return domain.Principal{}, auth.ErrUnauthenticated
	}
	p, err := s.cfg.Tokens.Authenticate(ctx, token)
	if err == nil {
		if session := sessionFrom(ctx); session != nil {
			session.mu.Lock()
			session.tokenID, _ = auth.TokenID(token)
			session.mu.Unlock()
		}
	}
	return p, err
}

// refuse answers a request without a valid token: 401 with a GraphQL error
// of code UNAUTHENTICATED; a database failure is 503 INTERNAL.
func (s *Server) refuse(w http.ResponseWriter, err error, id string) {
	status, code, msg := http.StatusUnauthorized, CodeUnauthenticated, "a valid bearer token is required"
	switch {
	case pgretry.Unavailable(err):
		s.cfg.Logger.Warn("authenticate: database unavailable", "request_id", id, "err", err)
		status, code, msg = http.StatusServiceUnavailable, CodeUnavailable, unavailableMessage
		setRetryAfter(w.Header())
	case !errors.Is(err, auth.ErrUnauthenticated):
		s.cfg.Logger.Error("authenticate", "request_id", id, "err", err)
		status, code, msg = http.StatusServiceUnavailable, CodeInternal, internalMessage
	default:
		msg = unauthenticatedMessage(err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="riskreg"`)
	}
	writeError(w, status, code, msg, id)
}

// writeError answers a request that never reaches GraphQL with one error in
// GraphQL's shape.
func writeError(w http.ResponseWriter, status int, code, msg, id string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": msg, "extensions": map[string]any{"code": code, "requestId": id}}}})
}

// websocketInit authenticates a websocket from its connection_init payload
// {"Authorization": "Bearer ..."}; a connection whose upgrade request had a
// valid Authorization header needs none. A bad token closes the socket with
// CloseUnauthorized, a principal over its sockets with
// CloseTooManyConnections.
func (s *Server) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	select {
	case <-s.closing:
		return transport.WithWebsocketCloseCode(ctx, 1001), nil, errors.New("the server is shutting down")
	default:
	}
	header := payload.Authorization()
	_, authenticated := auth.PrincipalFrom(ctx)
	if header != "" || !authenticated {
		p, err := s.authenticate(ctx, header)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				s.cfg.Logger.Error("authenticate websocket", "request_id", RequestID(ctx), "err", err)
			}
			ctx = transport.WithWebsocketCloseCode(ctx, CloseUnauthorized)
			ctx = transport.AppendCloseReason(ctx, "Forbidden")
			return ctx, nil, errors.New("UNAUTHENTICATED: a valid bearer token is required")
		}
		ctx = auth.WithPrincipal(ctx, p)
		if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
			st.mu.Lock()
			st.principal = p.Subject
			st.mu.Unlock()
		}
	}
	p, _ := auth.PrincipalFrom(ctx)
	if session := sessionFrom(ctx); session != nil && !session.admit(p.Subject) {
		ctx = transport.WithWebsocketCloseCode(ctx, CloseTooManyConnections)
		ctx = transport.AppendCloseReason(ctx, "too many connections")
		return ctx, nil, fmt.Errorf("TOO_MANY_CONNECTIONS: this principal already has %d websockets open", s.cfg.MaxWebsocketsPerPrincipal)
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.wsClients.Inc()
		ctx = context.WithValue(ctx, countedKey{}, true)
	}
	// The connection ends with a normal close frame when the server shuts
	// down, or with the request.
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, nil, nil
}

type countedKey struct{}

func (s *Server) websocketClosed(ctx context.Context, _ int) {
	if session := sessionFrom(ctx); session != nil {
		session.release()
	}
	if counted, _ := ctx.Value(countedKey{}).(bool); counted {
		s.cfg.Metrics.wsClients.Dec()
	}
}

// aroundOperation gives each operation fresh dataloaders and notes its name
// for the request's log line.
func (s *Server) aroundOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		name := operationName(graphql.GetOperationContext(ctx))
		st.mu.Lock()
		if !slices.Contains(strings.Split(st.operation, ","), name) {
			if st.operation != "" {
				st.operation += ","
			}
			st.operation += name
		}
		st.mu.Unlock()
	}
	return next(withLoaders(ctx, s.resolver))
}

// aroundResponse counts and times each answer.
func (s *Server) aroundResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	m := s.cfg.Metrics
	if m == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	opCtx := graphql.GetOperationContext(ctx)
	kind := "unknown"
	if opCtx.Operation != nil {
		kind = string(opCtx.Operation.Operation)
	}
	name := m.label(operationName(opCtx))
	outcome := "ok"
	if resp == nil || len(resp.Errors) > 0 {
		outcome = "error"
	}
	m.requests.WithLabelValues(name, kind, outcome).Inc()
	if kind != string(ast.Subscription) {
		m.latency.WithLabelValues(name, kind).Observe(time.Since(opCtx.Stats.OperationStart).Seconds())
	}
	return resp
}

// operationName is the name of the operation that runs, "" when anonymous.
func operationName(opCtx *graphql.OperationContext) string {
	if opCtx.Operation != nil && opCtx.Operation.Name != "" {
		return opCtx.Operation.Name
	}
	return opCtx.OperationName
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusWriter remembers the status code for the log line, and turns a 200
// whose answer is UNAVAILABLE into 503 with Retry-After. It passes Hijack
// and Flush through for websockets and streaming.
type statusWriter struct {
	http.ResponseWriter
	status int
	st     *requestState
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if code == http.StatusOK && w.st.isUnavailable() {
			code = http.StatusServiceUnavailable
			setRetryAfter(w.Header())
		}
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
