package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// amqpConfig is the Watermill AMQP configuration of t: a durable topic
// exchange, the Watermill topic as routing key, persistent messages with
// the event id as AMQP message id, and publisher confirms.
func amqpConfig(t *target, queue string) wmamqp.Config {
	cfg := wmamqp.NewDurableTopicConfig(t.connect, t.resource, queue)
	cfg.Exchange.Durable = true
	cfg.Publish.ConfirmDelivery = true
	cfg.Publish.ChannelPoolSize = 1
	cfg.Consume.Qos.PrefetchCount = 1
	cfg.Connection.AmqpConfig = &amqp091.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: amqp091.Table{"connection_name": "riskreg"},
	}
	cfg.Marshaler = wmamqp.DefaultMarshaler{PostprocessPublishing: amqpProperties}
	return cfg
}

// amqpProperties fills in the standard AMQP properties from the message's
// headers, for consumers that do not use Watermill.
func amqpProperties(p amqp091.Publishing) amqp091.Publishing {
	str := func(key string) string {
		s, _ := p.Headers[key].(string)
		return s
	}
	p.MessageId = str(wmamqp.DefaultMessageUUIDHeaderKey)
	p.ContentType = "application/json"
	p.Type = str(MetaEventType)
	p.CorrelationId = str(MetaCorrelationID)
	p.AppId = "riskreg"
	p.DeliveryMode = amqp091.Persistent
	return p
}

// dialAMQP connects the AMQP backend's publisher. It drives amqp091-go
// itself rather than watermill-amqp's publisher, whose connection wrapper
// reconnects on its own in a goroutine that races with publishing and
// closing (ThreeDotsLabs/watermill#693) and logs an ERROR for every close,
// a normal shutdown included. Publisher already reconnects after a failure;
// one connection here lives until the first one.
func (p *Publisher) dialAMQP(ctx context.Context) (conn, error) {
	type result struct {
		pub *amqpPublisher
		err error
	}
	// The AMQP dial takes no context: run it aside and give up when ctx
	// ends (closing it if it connects after all).
	done := make(chan result, 1)
	go func() {
		pub, err := newAMQPPublisher(p.t)
		done <- result{pub, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return conn{}, r.err
		}
		return conn{pub: r.pub, close: r.pub.Close, abort: func() { _ = r.pub.Close() }}, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				_ = r.pub.Close()
			}
		}()
		return conn{}, ctx.Err()
	}
}

// amqpPublisher publishes to t's durable topic exchange (declared as
// watermill-amqp's subscribers declare it) over one connection and one
// channel in confirm mode, and waits for each message's confirm.
type amqpPublisher struct {
	t       *target
	conn    *amqp091.Connection
	mu      sync.Mutex // one publish at a time on the channel
	ch      *amqp091.Channel
	marshal wmamqp.DefaultMarshaler
}

func newAMQPPublisher(t *target) (*amqpPublisher, error) {
	cfg := amqpConfig(t, "")
	c, err := amqp091.DialConfig(t.connect, *cfg.Connection.AmqpConfig)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to AMQP: %w", err)
	}
	ch, err := c.Channel()
	if err == nil {
		err = ch.ExchangeDeclare(t.resource, cfg.Exchange.Type, cfg.Exchange.Durable, cfg.Exchange.AutoDeleted,
			cfg.Exchange.Internal, cfg.Exchange.NoWait, cfg.Exchange.Arguments)
	}
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("prepare AMQP channel: %w", err)
	}
	return &amqpPublisher{t: t, conn: c, ch: ch, marshal: cfg.Marshaler.(wmamqp.DefaultMarshaler)}, nil
}

// Publish implements message.Publisher: topic is the routing key. It
// returns once the broker confirmed every message, or fails when one is
// refused, the connection is lost or the first message's context ends.
func (a *amqpPublisher) Publish(topic string, messages ...*message.Message) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range messages {
		pub, err := a.marshal.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode message %s: %w", m.UUID, err)
		}
		confirm, err := a.ch.PublishWithDeferredConfirmWithContext(m.Context(), a.t.resource, topic, false, false, pub)
		if err != nil {
			return fmt.Errorf("publish message %s: %w", m.UUID, err)
		}
		ok, err := confirm.WaitContext(m.Context())
		if err != nil {
			return fmt.Errorf("confirm of message %s: %w", m.UUID, err)
		}
		if !ok {
			return fmt.Errorf("message %s not confirmed: the broker refused it or the connection closed", m.UUID)
		}
	}
	return nil
}

// Close closes the connection, which ends a publish that waits for a
// confirm.
func (a *amqpPublisher) Close() error {
	if err := a.conn.Close(); err != nil && !errors.Is(err, amqp091.ErrClosed) {
		return err
	}
	return nil
}

func (s *Subscriber) openAMQP(context.Context) error {
	sub, err := wmamqp.NewSubscriber(amqpConfig(s.t, queueName(s.t, s.group)), s.wl)
	if err != nil {
		return err
	}
	s.sub = sub
	return nil
}

// queueName is the durable queue of a consumer group: the exchange's name
// and the group's.
func queueName(t *target, group string) string {
	return t.resource + "." + group
}
