package relay

import (
	"context"
	"time"

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

func (p *Publisher) dialAMQP(ctx context.Context) (conn, error) {
	type result struct {
		pub *wmamqp.Publisher
		err error
	}
	// The AMQP dial takes no context: run it aside and give up when ctx
	// ends (closing it if it connects after all).
	done := make(chan result, 1)
	go func() {
		pub, err := wmamqp.NewPublisher(amqpConfig(p.t, ""), p.wl)
		done <- result{pub, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return conn{}, r.err
		}
		return conn{pub: r.pub, close: func() error {
			// Closing the AMQP connection first ends a publish that
			// waits for a confirm; the publisher's Close waits for it.
			if c := r.pub.Connection(); c != nil {
				_ = c.Close()
			}
			return r.pub.Close()
		}}, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				_ = r.pub.Close()
			}
		}()
		return conn{}, ctx.Err()
	}
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
