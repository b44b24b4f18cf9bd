package relay

import (
	"context"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// goChannels holds the in-process brokers by name, so that a publisher and
// a subscriber opened on the same gochannel: URL in one process meet.
var goChannels struct {
	mu sync.Mutex
	m  map[string]*gochannel.GoChannel
}

// goChannel returns the in-process broker called name, creating it on first
// use. It lives as long as the process. A publish waits until every
// subscriber acknowledged the message; with no subscriber, the message is
// dropped (a GoChannel stores nothing).
func goChannel(name string, logger watermill.LoggerAdapter) *gochannel.GoChannel {
	goChannels.mu.Lock()
	defer goChannels.mu.Unlock()
	if goChannels.m == nil {
		goChannels.m = make(map[string]*gochannel.GoChannel)
	}
	gc, ok := goChannels.m[name]
	if !ok {
		gc = gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, logger)
		goChannels.m[name] = gc
	}
	return gc
}

func (p *Publisher) dialGoChannel(context.Context) (conn, error) {
	gc := goChannel(p.t.channel, p.wl)
	// The broker is shared and process-wide: closing a publisher leaves it.
	return conn{pub: gc, close: func() error { return nil }}, nil
}

func (s *Subscriber) openGoChannel(context.Context) error {
	s.sub = noClose{goChannel(s.t.channel, s.wl)}
	return nil
}

// noClose is a subscriber whose Close leaves the shared GoChannel open.
type noClose struct{ *gochannel.GoChannel }

func (noClose) Close() error { return nil }
