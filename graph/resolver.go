package graph

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
	"github.com/riskreg/riskreg/transparency"
)

// MaxPage is the largest `first` any connection accepts; more is
// BAD_USER_INPUT.
const MaxPage = 500

// MaxMoves is the most risks heatMapMovement returns; a window in which more
// moved is BAD_USER_INPUT (registerChanges pages through any window).
const MaxMoves = 10_000

// Resolver is the root of the resolvers. It holds the services they use.
type Resolver struct {
	// Register runs the commands and loads aggregates, also as of a past
	// instant or version.
	Register *register.Service
	// Store is the event log, for events, history, integrity and the
	// subscription.
	Store *eventstore.Store
	// Reader reads the read models that the projections keep, for lists
	// and the heat map, and the register as of a past instant.
	Reader *projection.Reader
	// Log is the Merkle log over the event log: checkpoints and proofs.
	Log *transparency.Log
	// Logger receives errors that the client sees only as INTERNAL.
	Logger *slog.Logger
	// ReviewPolicy sets the risks' next review dates.
	ReviewPolicy domain.ReviewPolicy

	subscriptions atomic.Int64 // subscriptions whose goroutine runs
}

// principal returns the caller; the HTTP and websocket layers authenticate
// every request before a resolver runs, so a missing principal is an
// UNAUTHENTICATED error, not a zero principal.
func principal(ctx context.Context) (domain.Principal, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return domain.Principal{}, auth.ErrUnauthenticated
	}
	return p, nil
}

// request returns the register request of a mutation: the caller, the
// request id (also the correlation id) and the idempotency key.
func request(ctx context.Context, idempotencyKey *string) (register.Request, error) {
	p, err := principal(ctx)
	if err != nil {
		return register.Request{}, err
	}
	id := RequestID(ctx)
	return register.Request{Principal: p, RequestID: id, CorrelationID: id, IdempotencyKey: deref(idempotencyKey),
		Recorded: recordedBy(ctx)}, nil
}

// pageSize checks a connection's `first` argument.
func pageSize(first *int, def int) (int, error) {
	if first == nil {
		return def, nil
	}
	switch n := *first; {
	case n < 0:
		return 0, badInput("first", "must not be negative")
	case n > MaxPage:
		return 0, badInput("first", "must be at most 500")
	default:
		return n, nil
	}
}

// cursor parses an events cursor: the position of the last event seen.
func cursor(after *string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(deref(after))
	if err != nil {
		return p, badInput("after", "is not a cursor this API gave out")
	}
	return p, nil
}

// asOfOf turns the asOf and atVersion arguments into a register.AsOf.
func asOfOf(asOf *time.Time, atVersion *int) (register.AsOf, error) {
	if asOf != nil && atVersion != nil {
		return register.AsOf{}, badInput("atVersion", "give asOf or atVersion, not both")
	}
	if atVersion != nil && *atVersion < 1 {
		return register.AsOf{}, badInput("atVersion", "must be at least 1")
	}
	return register.AsOf{Time: deref(asOf), Version: deref(atVersion)}, nil
}

// until is the exclusive bound of an eventstore.Filter that keeps events
// recorded at or before asOf; zero when asOf is.
func until(asOf time.Time) time.Time {
	if asOf.IsZero() {
		return asOf
	}
	// recorded_at keeps microseconds: the bound is the next microsecond.
	return asOf.Truncate(time.Microsecond).Add(time.Microsecond)
}

// transition runs one of the staff transitions of a response.
func (r *mutationResolver) transition(ctx context.Context, t register.ResponseTransition, input model.ResponseTransitionInput) (*model.StrategicResponse, error) {
	req, err := request(ctx, input.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	resp, err := r.Register.TransitionResponse(ctx, req, t, input.ID, input.ExpectedVersion, deref(input.Note))
	if err != nil {
		return nil, err
	}
	return responseModel(resp, time.Time{}), nil
}
