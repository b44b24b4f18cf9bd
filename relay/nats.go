package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsDuplicateWindow is how long JetStream remembers message ids (the
// event ids) of a stream the relay creates, to drop repeats.
const natsDuplicateWindow = 2 * time.Minute

// natsPublishWait bounds how long a JetStream publish waits for its ack.
const natsPublishWait = 10 * time.Second

// natsConnect connects to NATS. Publishes made while the connection is down
// fail at once rather than wait in a buffer, so the relay's own retry (with
// the same message id) is the only one.
func natsConnect(ctx context.Context, t *target, logger *slog.Logger) (*nats.Conn, error) {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(d)), time.Millisecond)
	}
	nc, err := nats.Connect(t.connect,
		nats.Name("riskreg"),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("relay: NATS connection lost", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logger.Info("relay: NATS connection back") }),
	)
	if err != nil {
		return nil, err
	}
	return nc, nil
}

// ensureStream creates t's stream if it is missing, taking every subject
// under t's prefix. An existing stream is left as it is.
func ensureStream(ctx context.Context, nc *nats.Conn, t *target) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = js.Stream(ctx, t.resource)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        t.resource,
			Description: "riskreg's event log, published by its relay",
			Subjects:    []string{t.prefix + ".>"},
			Storage:     jetstream.FileStorage,
			Duplicates:  natsDuplicateWindow,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another process created it meanwhile
		}
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", t.resource, err)
	}
	return nil
}

func (p *Publisher) dialNATS(ctx context.Context) (conn, error) {
	nc, err := natsConnect(ctx, p.t, p.logger)
	if err != nil {
		return conn{}, err
	}
	if err := ensureStream(ctx, nc, p.t); err != nil {
		nc.Close()
		return conn{}, err
	}
	pub, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			// The message UUID (the event id) becomes Nats-Msg-Id, so
			// JetStream drops a repeat within the duplicate window.
			TrackMsgId:     true,
			ConnectOptions: []nats.JSOpt{nats.MaxWait(natsPublishWait)},
		},
	}, p.wl)
	if err != nil {
		nc.Close()
		return conn{}, err
	}
	return conn{pub: pub, close: pub.Close, abort: nc.Close}, nil
}

func (s *Subscriber) openNATS(ctx context.Context) error {
	nc, err := natsConnect(ctx, s.t, s.logger)
	if err != nil {
		return err
	}
	if err := ensureStream(ctx, nc, s.t); err != nil {
		nc.Close()
		return err
	}
	sub, err := wmnats.NewSubscriberWithNatsConn(nc, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:      &wmnats.NATSMarshaler{},
		SubscribersCount: 1,
		CloseTimeout:     5 * time.Second,
		JetStream: wmnats.JetStreamConfig{
			DurablePrefix: durableName(s.group),
			SubscribeOptions: []nats.SubOpt{
				nats.BindStream(s.t.resource),
				nats.DeliverAll(),
				nats.AckExplicit(),
				nats.ManualAck(),
				// One message in flight: a message that is redelivered
				// is redelivered before any later one, so the consumer
				// sees each stream in order.
				nats.MaxAckPending(1),
			},
		},
	}, s.wl)
	if err != nil {
		nc.Close()
		return err
	}
	s.sub = sub
	return nil
}

// durableName turns a consumer group into a JetStream durable name.
func durableName(group string) string {
	b := []byte(group)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
