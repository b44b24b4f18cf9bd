package main

import (
	"flag"
	"time"

	"github.com/riskreg/riskreg/graph"
)

// wsFlags bound the websockets of riskreg serve (docs/api.md).
type wsFlags struct {
	perPrincipal  int
	subscriptions int
	sendBuffer    int64
	writeTimeout  time.Duration
}

func (f *wsFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.perPrincipal, "ws-max-per-principal", 8,
		"most websockets one principal may hold open; more close with 4429")
	fs.IntVar(&f.subscriptions, "ws-max-subscriptions", 16,
		"most subscriptions one websocket may run; more are refused with SUBSCRIPTION_LIMIT_EXCEEDED")
	fs.Int64Var(&f.sendBuffer, "ws-send-buffer", 1<<20,
		"`bytes` waiting to be sent on one websocket at most")
	fs.DurationVar(&f.writeTimeout, "ws-write-timeout", 10*time.Second,
		"how long a message may wait for room in a websocket's send buffer, or be written; then the socket closes with 4008")
}

// apply sets the websocket limits of o.
func (f *wsFlags) apply(o *graph.Options) {
	o.MaxWebsocketsPerPrincipal = f.perPrincipal
	o.MaxSubscriptionsPerSocket = f.subscriptions
	o.WebsocketSendBuffer = f.sendBuffer
	o.WebsocketWriteTimeout = f.writeTimeout
}
