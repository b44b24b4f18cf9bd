package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("relay: publisher closed")

// Publisher is a Watermill publisher to the broker a URL names. It connects
// on first use and again after every failure, so a broker that is down when
// riskreg starts, or goes away later, only delays publishing. Publish honours
// the context of the first message (message.SetContext): when it ends, the
// connection is closed, which aborts a publish stuck waiting for the broker.
//
// The relay publishes one message at a time; Publish is safe for concurrent
// use all the same.
type Publisher struct {
	t      *target
	logger *slog.Logger
	wl     watermill.LoggerAdapter
	dial   func(ctx context.Context) (conn, error)

	mu     sync.Mutex
	cur    conn
	closed bool
}

// conn is one connection of a Publisher: the Watermill publisher and what
// closes it (and its client connection).
type conn struct {
	pub   message.Publisher
	close func() error
	// abort, when set, ends a publish stuck waiting for the broker by
	// closing the client connection under it; it is safe to call during a
	// publish, which close is not. Without it, the message's context ends
	// a stuck publish.
	abort func()
	// inflight counts the publishes under way on this connection: close
	// waits for them.
	inflight *sync.WaitGroup
}

// NewPublisher returns a publisher to the broker rawURL names:
//
//	nats://host:4222          NATS JetStream (watermill-nats/v2): subject
//	                          riskreg.events.<streamType>.<EventType> in stream
//	                          RISKREG (created if missing), Nats-Msg-Id = event
//	                          id, acknowledged publishes. ?stream= and ?prefix=
//	                          change the names.
//	amqp://user:pass@host:5672/  RabbitMQ (watermill-amqp/v3): durable topic
//	                          exchange riskreg.events (?exchange=), routing key
//	                          <streamType>.<EventType>, persistent messages,
//	                          publisher confirms.
//	postgres://...            watermill-sql/v4 topic riskreg.events (?topic=)
//	                          in a broker database, never riskreg's own.
//	gochannel:[name]          in process (watermill's GoChannel), topic
//	                          riskreg.events; for tests and embedding.
//
// It tries to connect once at once and logs why it could not; only a
// malformed URL is an error. Logs and errors never show the URL's
// credentials.
func NewPublisher(ctx context.Context, rawURL string, logger *slog.Logger) (*Publisher, error) {
	t, err := parseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	return newPublisher(ctx, t, logger), nil
}

// WatermillLogger adapts logger for Watermill, whose chatty info logs
// (connections, handlers starting, schema queries) become debug logs.
func WatermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// CheckURL reports whether rawURL names a broker NewPublisher knows; the
// error wraps ErrBadURL and never quotes the URL's credentials.
func CheckURL(rawURL string) error {
	_, err := parseTarget(rawURL)
	return err
}

func newPublisher(ctx context.Context, t *target, logger *slog.Logger) *Publisher {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("target", t.String())
	p := &Publisher{t: t, logger: logger, wl: WatermillLogger(logger)}
	switch t.kind {
	case kindNATS:
		p.dial = p.dialNATS
	case kindAMQP:
		p.dial = p.dialAMQP
	case kindPostgres:
		p.dial = p.dialPostgres
	case kindGoChannel:
		p.dial = p.dialGoChannel
	}
	if _, err := p.get(ctx, false); err != nil {
		logger.Warn("relay: broker not reachable yet; publishing will retry", "err", err)
	}
	return p
}

// Name returns the checkpoint name of a relay to this publisher's target:
// "relay:" and the URL without credentials.
func (p *Publisher) Name() string { return p.t.name() }

// String returns the target URL without credentials.
func (p *Publisher) String() string { return p.t.String() }

// Topic returns the Watermill topic of an event for this backend: the NATS
// subject, the AMQP routing key, or the single topic of the PostgreSQL and
// gochannel backends. Pass it as Config.Topic.
func (p *Publisher) Topic(streamType, eventType string) string {
	return p.t.topic(streamType, eventType)
}

// Publish publishes messages and returns once the broker acknowledged them
// all.
func (p *Publisher) Publish(topic string, messages ...*message.Message) error {
	ctx := context.Background()
	if len(messages) > 0 {
		ctx = messages[0].Context()
	}
	c, err := p.get(ctx, true)
	if err != nil {
		return err
	}
	// When ctx ends first, abort the connection: that ends a publish stuck
	// waiting for the broker. It is closed once the publish has returned.
	stop := context.AfterFunc(ctx, c.abortNow)
	err = c.pub.Publish(topic, messages...)
	c.inflight.Done()
	if !stop() {
		p.drop(c)
		return fmt.Errorf("relay: publish to %s: %w", p.t, ctx.Err())
	}
	if err != nil {
		p.drop(c)
		return fmt.Errorf("relay: publish to %s: %w", p.t, p.t.scrub(err))
	}
	return nil
}

// get returns the current connection, dialling one if there is none; for a
// publish (which must call c.inflight.Done when it returns), it counts it in.
func (p *Publisher) get(ctx context.Context, publish bool) (conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return conn{}, ErrPublisherClosed
	}
	if p.cur.pub == nil {
		c, err := p.dial(ctx)
		if err != nil {
			return conn{}, fmt.Errorf("relay: connect to %s: %w", p.t, p.t.scrub(err))
		}
		c.inflight = new(sync.WaitGroup)
		p.cur = c
	}
	if publish {
		p.cur.inflight.Add(1) // under p.mu: never after drop took it out of p.cur
	}
	return p.cur, nil
}

func (c conn) abortNow() {
	if c.abort != nil {
		c.abort()
	}
}

// shut aborts c, waits for its publishes to return and closes it.
func (c conn) shut() error {
	c.abortNow()
	c.inflight.Wait()
	return c.close()
}

// drop closes c after a failure, so that the next Publish connects afresh.
// Only the caller that takes c out of p.cur closes it.
func (p *Publisher) drop(c conn) {
	p.mu.Lock()
	mine := p.cur.pub == c.pub
	if mine {
		p.cur = conn{}
	}
	p.mu.Unlock()
	if !mine {
		return
	}
	if err := c.shut(); err != nil {
		p.logger.Debug("relay: close after a failure", "err", err)
	}
}

// Close closes the connection, once the publishes under way have returned;
// later publishes fail.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	c := p.cur
	p.cur = conn{}
	p.mu.Unlock()
	if c.pub == nil {
		return nil
	}
	return c.shut()
}
