package relay_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/riskreg/riskreg/relay"
)

func TestPublisherURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, name, topic string
	}{
		{"nats://bob:s3cret@127.0.0.1:1", "relay:nats://127.0.0.1:1?prefix=riskreg.events&stream=RISKREG", "riskreg.events.risk.RiskAssessed"},
		{"nats://127.0.0.1:1?stream=OTHER&prefix=x.y", "relay:nats://127.0.0.1:1?prefix=x.y&stream=OTHER", "x.y.risk.RiskAssessed"},
		{"amqp://bob:s3cret@127.0.0.1:1/", "relay:amqp://127.0.0.1:1/?exchange=riskreg.events", "risk.RiskAssessed"},
		{"postgres://bob:s3cret@127.0.0.1:1/broker?sslmode=disable&password=s3cret", "relay:postgres://127.0.0.1:1/broker?topic=riskreg.events", "riskreg.events"},
		{"gochannel:", "relay:gochannel:default?topic=riskreg.events", "riskreg.events"},
	} {
		var logs bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pub, err := relay.NewPublisher(ctx, tc.url, slog.New(slog.NewTextHandler(&logs, nil)))
		cancel()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if pub.Name() != tc.name || pub.Topic("risk", "RiskAssessed") != tc.topic {
			t.Errorf("%s: name %q, topic %q; want %q, %q", tc.url, pub.Name(), pub.Topic("risk", "RiskAssessed"), tc.name, tc.topic)
		}
		if !strings.HasPrefix(tc.url, "gochannel") {
			pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			m := message.NewMessage("x", []byte("{}"))
			m.SetContext(pctx)
			if err := pub.Publish("x", m); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "bob") {
				t.Errorf("%s: publish to a closed port: %v", pub, err)
			}
			cancel()
		}
		pub.Close()
		if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "bob") {
			t.Errorf("%s: credentials in the logs:\n%s", pub, logs.String())
		}
	}
}

func TestPublisherBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"kafka://127.0.0.1:9092",
		"nats://",
		"nats://127.0.0.1:4222?stream=a.b",
		"amqp://bob:s3cret@127.0.0.1:5672/?exchange=a b",
		"postgres://bob:s3cret@[::1/x",
	} {
		_, err := relay.NewPublisher(context.Background(), u, slog.Default())
		if !errors.Is(err, relay.ErrBadURL) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v, want ErrBadURL without the password", u, err)
		}
	}
}
