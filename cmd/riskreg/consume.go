package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/relay"
	"github.com/riskreg/riskreg/relay/consumer"
)

// runConsume runs "riskreg consume --from URL": an example consumer that
// prints every event the relay published to the broker, once per event id,
// until it is stopped. It needs no riskreg database; its de-duplication
// store is a database of the consumer's own (--dedup-database), or memory.
func runConsume(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("consume --from URL [flags]", stderr)
	from := fs.String("from", "", "broker `URL` to consume from, as given to --publish (nats://, amqp://, postgres://)")
	group := fs.String("group", "riskreg-consume",
		"consumer `group`: each group gets every event once and keeps its own place on the broker")
	dedupURL := fs.String("dedup-database", getenv("CONSUMER_DATABASE_URL"),
		"PostgreSQL `URL` of the consumer's own database, where it records the event ids it printed "+
			"(table riskreg_consumer_handled, created if missing; never riskreg's database) (env CONSUMER_DATABASE_URL); "+
			"empty: remember them in memory only")
	format := fs.String("format", "json", "output `format`: json (one envelope per line) or text")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "consume takes no arguments, got %q", positional)
	}
	if *from == "" {
		return usageErrorf(fs, "consume needs --from URL")
	}
	if *format != "json" && *format != "text" {
		return usageErrorf(fs, "--format must be json or text, got %q", *format)
	}

	var store consumer.Store = consumer.NewMemoryStore(0)
	if *dedupURL != "" {
		pool, err := pgxpool.New(ctx, *dedupURL)
		if err != nil {
			return fmt.Errorf("de-duplication database: %w", err)
		}
		defer pool.Close()
		if store, err = consumer.NewPostgresStore(ctx, pool, *group); err != nil {
			return err
		}
	} else {
		logger.Warn("consume: no --dedup-database; event ids are remembered in memory only, so a restart may print events again")
	}

	sub, err := relay.NewSubscriber(ctx, *from, *group, logger)
	if err != nil {
		return err
	}
	defer sub.Close()
	poison, poisonTopic := sub.NewPoisonPublisher(ctx)
	defer poison.Close()

	var mu sync.Mutex
	c, err := consumer.New(consumer.Config{
		Source:      sub,
		Topic:       sub.Topic(),
		Poison:      poison,
		PoisonTopic: poisonTopic,
		Dedup:       store,
		Logger:      logger,
		Handler: func(_ context.Context, e relay.Envelope) error {
			mu.Lock()
			defer mu.Unlock()
			return printEvent(stdout, *format, e)
		},
	})
	if err != nil {
		return err
	}
	logger.Info("consuming", "from", sub.String(), "group", *group, "topic", sub.Topic())
	return c.Run(ctx)
}

// printEvent writes one event to w.
func printEvent(w io.Writer, format string, e relay.Envelope) error {
	if format == "text" {
		_, err := fmt.Fprintf(w, "%s %s %s %s v%d by %s (event %s)\n",
			e.RecordedAt.Format("2006-01-02T15:04:05.000Z07:00"), e.StreamType, e.StreamID, e.Type, e.Version, e.Actor, e.ID)
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
