package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriber consumes the events a relay publishes to the broker a URL
// names, as one consumer group: each group gets every event, and keeps its
// own place (a JetStream durable consumer, a durable RabbitMQ queue
// "<exchange>.<group>", a watermill-sql consumer group). Every backend hands
// out one message at a time, so a group sees each stream in order.
//
// Subscribe to Topic() to get every event.
type Subscriber struct {
	t       *target
	group   string
	logger  *slog.Logger
	wl      watermill.LoggerAdapter
	sub     message.Subscriber
	closers []func() error
}

// NewSubscriber connects to the broker rawURL names (see NewPublisher for
// the URL forms) as consumer group group.
func NewSubscriber(ctx context.Context, rawURL, group string, logger *slog.Logger) (*Subscriber, error) {
	t, err := parseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	return newSubscriber(ctx, t, group, logger)
}

// NewCheckpointSubscriber connects, as consumer group group, to the signed
// checkpoints of the log that relays publish to the broker rawURL names
// (Config.Checkpoints, Publisher.CheckpointPublisher); subscribe to the
// topic it returns.
func NewCheckpointSubscriber(ctx context.Context, rawURL, group string, logger *slog.Logger) (*Subscriber, string, error) {
	t, err := parseTarget(rawURL)
	if err != nil {
		return nil, "", err
	}
	ct, topic := t.checkpointsTarget()
	s, err := newSubscriber(ctx, ct, group, logger)
	return s, topic, err
}

func newSubscriber(ctx context.Context, t *target, group string, logger *slog.Logger) (*Subscriber, error) {
	var err error
	if group == "" {
		return nil, errors.New("relay: a subscriber needs a consumer group")
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("source", t.String(), "group", group)
	s := &Subscriber{t: t, group: group, logger: logger, wl: WatermillLogger(logger)}
	switch t.kind {
	case kindNATS:
		err = s.openNATS(ctx)
	case kindAMQP:
		err = s.openAMQP(ctx)
	case kindPostgres:
		err = s.openPostgres(ctx)
	case kindGoChannel:
		err = s.openGoChannel(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe to %s: %w", t, t.scrub(err))
	}
	return s, nil
}

// Topic is the topic that carries every event: the NATS subject wildcard
// "<prefix>.>", the AMQP binding key "#", or the single PostgreSQL or
// gochannel topic.
func (s *Subscriber) Topic() string { return s.t.subscribeTopic() }

// String returns the broker URL without credentials.
func (s *Subscriber) String() string { return s.t.String() }

// Subscribe implements message.Subscriber.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.sub.Subscribe(ctx, topic)
}

// Close implements message.Subscriber.
func (s *Subscriber) Close() error {
	err := s.sub.Close()
	for _, c := range s.closers {
		err = errors.Join(err, c())
	}
	return err
}

// NewPoisonPublisher returns a publisher for the group's poisoned messages
// (messages its handler kept failing on) and their topic, on the same broker
// but apart from the events: NATS stream "<stream>_POISON" with subject
// "<prefix>_poison.<group>", AMQP exchange "<exchange>.poison" with routing
// key <group>, or topic "<topic>.poison".
func (s *Subscriber) NewPoisonPublisher(ctx context.Context) (*Publisher, string) {
	t, topic := s.t.poison(s.group)
	return newPublisher(ctx, t, s.logger), topic
}
