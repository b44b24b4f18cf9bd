package eventstore

import (
	"context"
	"fmt"
	"time"
)

// Append records events on one or more streams in one transaction: all of
// them or none. Each stream's Expected version is checked exactly; a mismatch
// returns a *ConcurrencyError (errors.Is ErrConcurrency) and records nothing.
//
// An append whose event ids are all stored already (a client's retry) records
// nothing and returns the original result; an id stored with other content is
// a *DuplicateEventError. When ctx ends or the connection is lost while the
// append commits, the error matches ErrOutcomeUnknown: send the same events
// again to learn the outcome.
//
// Concurrent appends are committed together by the store's writers (group
// commit), so many small appends cost few transactions.
func (s *Store) Append(ctx context.Context, streams ...StreamAppend) (AppendResult, error) {
	start := time.Now()
	req, err := s.prepare(streams)
	if err != nil {
		return AppendResult{}, err
	}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	case <-s.quit:
		return AppendResult{}, ErrClosed
	}
	select {
	case out := <-req.done:
		if out.err == nil && s.cfg.ObserveAppend != nil {
			s.cfg.ObserveAppend(time.Since(start))
		}
		return out.res, out.err
	case <-ctx.Done():
		return AppendResult{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-s.stopped:
		// Every writer has stopped, and a writer answers each request it
		// takes before it stops: one still unanswered was never taken
		// from the queue, so nothing of it was recorded.
		select {
		case out := <-req.done:
			return out.res, out.err
		default:
			return AppendResult{}, ErrClosed
		}
	}
}

type appendRequest struct {
	streams   []StreamAppend // validated copies, ids and times filled in
	canonical [][]canonicalEvent
	events    int
	done      chan appendOutcome // buffered: a writer never waits on a caller
}

type appendOutcome struct {
	res AppendResult
	err error
}

// canonicalEvent is the canonical JSON of an event's data and metadata, which
// its hash covers.
type canonicalEvent struct{ data, extra []byte }

func (r *appendRequest) answer(res AppendResult, err error) {
	r.done <- appendOutcome{res: res, err: err}
}
