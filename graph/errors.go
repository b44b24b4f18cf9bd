package graph

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgretry"
)

// The error codes of the contract, in errors[].extensions.code.
const (
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeForbidden          = "FORBIDDEN"
	CodeNotFound           = "NOT_FOUND"
	CodeConflict           = "CONFLICT"
	CodeBadUserInput       = "BAD_USER_INPUT"
	CodeFailedPrecondition = "FAILED_PRECONDITION"
	CodeInternal           = "INTERNAL"
	// CodeOutcomeUnknown: the connection to the database was lost while a
	// mutation committed; it may or may not have been recorded. Send it
	// again with the same idempotencyKey to learn which (and to record it
	// once if it was not).
	CodeOutcomeUnknown = "OUTCOME_UNKNOWN"
	// CodeUnavailable: the database cannot be reached; nothing was
	// recorded. The HTTP answer is 503 with Retry-After.
	CodeUnavailable = "UNAVAILABLE"
)

// The messages of the outcome-unknown and unavailable answers, which never
// carry the driver's text.
const (
	outcomeUnknownMessage = "the connection to the database was lost while the change committed: it may or may not be recorded; send it again with the same idempotencyKey"
	unavailableMessage    = "the database is unavailable; nothing was recorded; try again later"
)

// internalMessage is all a client learns of an internal error.
const internalMessage = "internal error; the server log has the details under this request id"

// errorPresenter maps the errors of resolvers to the contract's codes by type
// (errors.As and errors.Is), never by text. Errors gqlgen itself raised
// (parse, validation, complexity) pass unchanged. Anything else is an
// internal error: it is logged with the request id and answered as INTERNAL
// without its text, which may hold SQL or driver details.
func errorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var (
			validation   *domain.ValidationError
			stale        *domain.StaleError
			precondition *domain.PreconditionError
			concurrency  *eventstore.ConcurrencyError
		)
		code := ""
		switch {
		case errors.As(err, &validation):
			code = CodeBadUserInput
			fields := make([]map[string]string, len(validation.Fields))
			for i, f := range validation.Fields {
				fields[i] = map[string]string{"field": f.Field, "message": f.Message}
			}
			setExtension(gqlErr, "fields", fields)
		case errors.As(err, &stale):
			code = CodeConflict
			setExtension(gqlErr, "currentVersion", stale.Current)
			setExtension(gqlErr, "id", stale.ID)
		case errors.As(err, &concurrency):
			code = CodeConflict
			setExtension(gqlErr, "currentVersion", int(concurrency.Current))
			setExtension(gqlErr, "id", concurrency.StreamID)
		case errors.As(err, &precondition):
			code = CodeFailedPrecondition
		case errors.Is(err, domain.ErrNotFound):
			code = CodeNotFound
		case errors.Is(err, domain.ErrForbidden):
			code = CodeForbidden
		case errors.Is(err, auth.ErrUnauthenticated):
			code = CodeUnauthenticated
		case errors.Is(err, domain.ErrInvalidInput), errors.Is(err, eventstore.ErrInvalidInput):
			code = CodeBadUserInput
		case errors.Is(err, eventstore.ErrOutcomeUnknown):
			logger.WarnContext(ctx, "outcome unknown", "request_id", RequestID(ctx), "path", gqlErr.Path.String(), "err", err)
			return &gqlerror.Error{Message: outcomeUnknownMessage, Path: gqlErr.Path,
				Extensions: map[string]any{"code": CodeOutcomeUnknown, "requestId": RequestID(ctx)}}
		case pgretry.Unavailable(err):
			logger.WarnContext(ctx, "database unavailable", "request_id", RequestID(ctx), "path", gqlErr.Path.String(), "err", err)
			markUnavailable(ctx)
			return &gqlerror.Error{Message: unavailableMessage, Path: gqlErr.Path,
				Extensions: map[string]any{"code": CodeUnavailable, "requestId": RequestID(ctx)}}
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			// The request ended under the operation: its client went away, or
			// the server is shutting down. Not the server's fault, and nothing
			// was recorded (an append cut short is OUTCOME_UNKNOWN above).
			logger.InfoContext(ctx, "request cancelled", "request_id", RequestID(ctx), "path", gqlErr.Path.String())
			markUnavailable(ctx)
			return &gqlerror.Error{Message: unavailableMessage, Path: gqlErr.Path,
				Extensions: map[string]any{"code": CodeUnavailable, "requestId": RequestID(ctx)}}
		case gqlErr.Err == nil:
			return gqlErr // gqlgen's own error, or one already presented
		default:
			logger.ErrorContext(ctx, "internal error", "request_id", RequestID(ctx), "path", gqlErr.Path.String(), "err", err)
			return &gqlerror.Error{Message: internalMessage, Path: gqlErr.Path,
				Extensions: map[string]any{"code": CodeInternal, "requestId": RequestID(ctx)}}
		}
		setExtension(gqlErr, "code", code)
		return gqlErr
	}
}

func setExtension(e *gqlerror.Error, key string, value any) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions[key] = value
}

// recoverFunc turns a panic in a resolver into an INTERNAL error, logged
// with its stack and the request id.
func recoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in resolver", "request_id", RequestID(ctx), "panic", p, "stack", string(debug.Stack()))
		return &gqlerror.Error{Message: internalMessage,
			Extensions: map[string]any{"code": CodeInternal, "requestId": RequestID(ctx)}}
	}
}

// badInput returns a *domain.ValidationError for one field.
func badInput(field, message string) error {
	return &domain.ValidationError{Fields: []domain.FieldError{{Field: field, Message: message}}}
}
