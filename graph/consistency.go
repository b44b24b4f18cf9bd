package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// Read-your-writes across replicas. Every mutation answers with a
// consistency token, the log position of the last event it recorded (or that
// its first run recorded, for a repeated idempotency key), in the response's
// extensions (ConsistencyTokenExtension) and header (ConsistencyTokenHeader).
// A request that sends a token back, in the ConsistentAfterHeader header or
// the request's ConsistentAfterExtension extension, is answered once this
// process's read models reached it: on whatever replica it lands, it sees
// the write. The wait is bounded by ConsistencyTimeout; past it the request
// fails with CodeConsistencyTimeout rather than answer stale.
const (
	// ConsistencyTokenHeader is the response header of a mutation's token.
	ConsistencyTokenHeader = "X-Riskreg-Consistency-Token"
	// ConsistencyTokenExtension is the key of the token in a response's
	// extensions.
	ConsistencyTokenExtension = "consistencyToken"
	// ConsistentAfterHeader is the request header that carries a token.
	ConsistentAfterHeader = "X-Riskreg-Consistent-After"
	// ConsistentAfterExtension is the request extension that carries a
	// token, for clients that cannot set headers (websockets).
	ConsistentAfterExtension = "consistentAfter"
	// CodeConsistencyTimeout is the error code of a request whose token the
	// read models did not reach within ConsistencyTimeout (a projection is
	// failing, or catching up after a takeover). It is safe to retry.
	CodeConsistencyTimeout = "CONSISTENCY_TIMEOUT"
	// ConsistencyTimeout is the default bound of the wait for a token
	// (Options.ConsistencyTimeout).
	ConsistencyTimeout = 5 * time.Second
)

// recorder collects the consistency token of one operation: the furthest
// position any command of it recorded.
type recorder struct {
	mu  sync.Mutex
	pos eventstore.Position
}

func (r *recorder) note(p eventstore.Position) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.Compare(r.pos) > 0 {
		r.pos = p
	}
}

func (r *recorder) token() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos.String()
}

type recorderKey struct{}

// recordedBy returns the function that register.Request.Recorded calls for
// the operation of ctx, or nil outside one.
func recordedBy(ctx context.Context) func(eventstore.Position) {
	if r, ok := ctx.Value(recorderKey{}).(*recorder); ok {
		return r.note
	}
	return nil
}

// tokenHeader sets ConsistencyTokenHeader on an HTTP response from the
// request's recorder, right before the status line is written.
type tokenHeader struct {
	http.ResponseWriter
	rec   *recorder
	wrote bool
}

func (w *tokenHeader) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		if t := w.rec.token(); t != "" {
			w.Header().Set(ConsistencyTokenHeader, t)
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *tokenHeader) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (websockets).
func (w *tokenHeader) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withConsistencyToken gives each HTTP request a recorder whose token the
// response carries in its ConsistencyTokenHeader.
func withConsistencyToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r) // a websocket: its operations carry their tokens in their extensions
			return
		}
		rec := &recorder{}
		next.ServeHTTP(&tokenHeader{ResponseWriter: w, rec: rec}, r.WithContext(context.WithValue(r.Context(), recorderKey{}, rec)))
	})
}

// consistency is the gqlgen extension behind read-your-writes: it waits for
// a request's token before the operation runs, and puts the operation's own
// token in its response's extensions.
type consistency struct {
	reader  *projection.Reader
	timeout time.Duration
	logger  *slog.Logger
}

var (
	_ graphql.HandlerExtension     = consistency{}
	_ graphql.OperationInterceptor = consistency{}
)

func (consistency) ExtensionName() string                   { return "Consistency" }
func (consistency) Validate(graphql.ExecutableSchema) error { return nil }
func (c consistency) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	if gqlErr := c.await(ctx, opCtx); gqlErr != nil {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{gqlErr}})
	}
	rec, ok := ctx.Value(recorderKey{}).(*recorder)
	if !ok {
		// A websocket's operations have no HTTP request of their own.
		rec = &recorder{}
		ctx = context.WithValue(ctx, recorderKey{}, rec)
	}
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if resp == nil {
			return nil
		}
		if t := rec.token(); t != "" {
			if resp.Extensions == nil {
				resp.Extensions = make(map[string]any)
			}
			resp.Extensions[ConsistencyTokenExtension] = t
		}
		return resp
	}
}

// await waits until the read models reach the token the request carries, if
// any, and returns the error to answer with when they do not in time.
func (c consistency) await(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	token := opCtx.Headers.Get(ConsistentAfterHeader)
	if v, ok := opCtx.Extensions[ConsistentAfterExtension]; ok {
		s, isString := v.(string)
		if !isString {
			return consistencyError(ctx, CodeBadUserInput, "the consistentAfter extension must be a consistency token (a string)", "")
		}
		token = s
	}
	if token == "" {
		return nil
	}
	pos, err := eventstore.ParsePosition(token)
	if err != nil {
		return consistencyError(ctx, CodeBadUserInput, "the consistency token is not one this API gave out", "")
	}
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err = c.reader.WaitFor(wctx, pos)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return consistencyError(ctx, CodeConsistencyTimeout, "the request ended before the read models reached the consistency token", token)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, projection.ErrFailing):
		return consistencyError(ctx, CodeConsistencyTimeout,
			"the read models did not reach the consistency token in time; retry, or read without the token", token)
	}
	c.logger.ErrorContext(ctx, "internal error", "request_id", RequestID(ctx), "err", err)
	return consistencyError(ctx, CodeInternal, internalMessage, "")
}

// consistencyError is the error of a request whose token was not reached.
func consistencyError(ctx context.Context, code, msg, token string) *gqlerror.Error {
	ext := map[string]any{"code": code, "requestId": RequestID(ctx)}
	if token != "" {
		ext[ConsistencyTokenExtension] = token
	}
	return &gqlerror.Error{Message: msg, Extensions: ext}
}
