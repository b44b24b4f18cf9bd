// Package consumer is an example consumer of riskreg's published events,
// built the way Watermill users expect: a message.Router with the
// CorrelationID, PoisonQueue, Retry and Recoverer middleware, and
// de-duplication by event id in a store of the consumer's own.
//
// The relay publishes at least once, so a consumer sees an event again after
// a relay restart (and, on RabbitMQ and PostgreSQL, whenever the relay's
// publish was retried). The message UUID is the event id: Consumer runs the
// handler for an id only once per Store, and records the id only when the
// handler succeeded, so an event whose handling failed is handled again when
// it comes back.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/riskreg/riskreg/relay"
)

// Handler handles one event. It runs at most once per event id and Store
// unless it fails; with a PostgresStore, ctx carries the transaction that
// records the event as handled (see Tx).
type Handler func(ctx context.Context, e relay.Envelope) error

// Store remembers which events a consumer group has handled.
type Store interface {
	// Once runs fn unless id was recorded as handled before, and records
	// id when fn succeeds. It reports whether id was a duplicate.
	Once(ctx context.Context, id string, fn func(context.Context) error) (duplicate bool, err error)
}

// Config configures a Consumer. Source, Topic and Handler are required.
type Config struct {
	// Source and Topic are where the events come from, e.g. a
	// relay.Subscriber and its Topic().
	Source message.Subscriber
	Topic  string
	// Poison and PoisonTopic receive the messages the handler still fails
	// on after its retries, with the reason in their metadata; the message
	// is then acknowledged, so one bad event does not stop the group. Nil
	// Poison: failed messages are nacked and come back.
	Poison      message.Publisher
	PoisonTopic string
	// Handler handles each event.
	Handler Handler
	// Dedup is the store of handled event ids. Default: a MemoryStore,
	// which forgets on restart.
	Dedup Store
	// MaxRetries is how often a failing handler is retried before the
	// message is poisoned. Default 3.
	MaxRetries int
	// RetryInterval is the first wait between retries; it doubles each
	// time. Default 100ms.
	RetryInterval time.Duration
	// Logger receives the consumer's logs. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Source == nil || c.Topic == "":
		return errors.New("consumer: Config.Source and Topic are required")
	case c.Handler == nil:
		return errors.New("consumer: Config.Handler is required")
	case c.Poison != nil && c.PoisonTopic == "":
		return errors.New("consumer: Config.PoisonTopic is required with Poison")
	case c.MaxRetries < 0 || c.RetryInterval < 0:
		return errors.New("consumer: MaxRetries and RetryInterval must not be negative")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Dedup == nil {
		c.Dedup = NewMemoryStore(0)
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Consumer runs a Watermill router that hands every event to a Handler.
type Consumer struct {
	cfg    Config
	router *message.Router

	handled    atomic.Uint64
	duplicates atomic.Uint64
}

// New returns a consumer; Run starts it.
func New(cfg Config) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	wl := relay.WatermillLogger(cfg.Logger)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wl)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	c := &Consumer{cfg: cfg, router: router}
	// The first middleware is the outermost: poison only what still fails
	// after the retries, and retry panics as failures.
	router.AddMiddleware(middleware.CorrelationID)
	if cfg.Poison != nil {
		poison, err := middleware.PoisonQueue(cfg.Poison, cfg.PoisonTopic)
		if err != nil {
			return nil, fmt.Errorf("consumer: %w", err)
		}
		router.AddMiddleware(poison)
	}
	router.AddMiddleware(
		middleware.Retry{
			MaxRetries:      cfg.MaxRetries,
			InitialInterval: cfg.RetryInterval,
			Multiplier:      2,
			MaxInterval:     10 * cfg.RetryInterval,
			Logger:          wl,
		}.Middleware,
		middleware.Recoverer,
	)
	router.AddConsumerHandler("riskreg-events", cfg.Topic, cfg.Source, c.handle)
	return c, nil
}

// handle decodes an event and hands it to the handler once.
func (c *Consumer) handle(msg *message.Message) error {
	env, err := relay.DecodeMessage(msg)
	if err != nil {
		return err
	}
	id := msg.UUID
	if id == "" {
		id = env.ID
	}
	dup, err := c.cfg.Dedup.Once(msg.Context(), id, func(ctx context.Context) error {
		return c.cfg.Handler(ctx, env)
	})
	if err != nil {
		return err
	}
	if dup {
		c.duplicates.Add(1)
		c.cfg.Logger.Debug("consumer: duplicate dropped", "event_id", id)
		return nil
	}
	c.handled.Add(1)
	return nil
}

// Run consumes until ctx ends, then closes the router and returns.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.router.Run(ctx); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	return nil
}

// Running is closed once the router runs.
func (c *Consumer) Running() chan struct{} { return c.router.Running() }

// Stats returns how many events were handled and how many duplicates dropped.
func (c *Consumer) Stats() (handled, duplicates uint64) {
	return c.handled.Load(), c.duplicates.Load()
}
