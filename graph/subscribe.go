package graph

import (
	"context"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
)

// subscriptionPage is the most events a subscription reads from the log at
// once, and so holds while its client is slow.
const subscriptionPage = 100

// subscribeEvents runs the events subscription: it takes one of the
// socket's subscription slots, replays the log from after page by page and
// stays live. The channel is unbuffered, so a subscription holds at most
// one page of the log while its client is slow; the socket's bounded send
// buffer closes a client that stops reading.
func (r *Resolver) subscribeEvents(ctx context.Context, after *string, streamID *string, types []string) (<-chan *model.Event, error) {
	from, err := cursor(after)
	if err != nil {
		return nil, err
	}
	done, err := startSubscription(ctx)
	if err != nil {
		return nil, err
	}
	f := eventstore.Filter{StreamID: deref(streamID), Types: types}
	ch := make(chan *model.Event)
	r.subscriptions.Add(1)
	go func() {
		defer done()
		defer r.subscriptions.Add(-1)
		defer close(ch)
		err := r.Store.SubscribePaged(ctx, from, f, subscriptionPage, func(ctx context.Context, events []eventstore.RecordedEvent) error {
			for _, e := range events {
				select {
				case ch <- eventModel(e):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			r.Logger.ErrorContext(ctx, "subscription ended", "request_id", RequestID(ctx), "err", err)
		}
	}()
	return ch, nil
}
