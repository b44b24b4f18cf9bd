package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsMessage is a message of graphql-transport-ws or graphql-ws.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a websocket to the API speaking subprotocol.
func (e *env) dialWS(t *testing.T, ctx context.Context, subprotocol string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http")
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// connectWS dials the API over subprotocol and authenticates with token in
// connection_init, failing the test unless the server acknowledges.
func (e *env) connectWS(t *testing.T, ctx context.Context, subprotocol, token string) *websocket.Conn {
	t.Helper()
	c := e.dialWS(t, ctx, subprotocol)
	send(t, ctx, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + token + `"}`)})
	if m := next(t, ctx, c); m.Type != "connection_ack" {
		t.Fatalf("after init: %+v", m)
	}
	return c
}

func send(t *testing.T, ctx context.Context, c *websocket.Conn, m wsMessage) {
	t.Helper()
	if err := wsjson.Write(ctx, c, m); err != nil {
		t.Fatal(err)
	}
}

// next reads messages until one of a type other than keep-alives arrives.
func next(t *testing.T, ctx context.Context, c *websocket.Conn) wsMessage {
	t.Helper()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "ka", "ping", "pong":
			if m.Type == "ping" {
				send(t, ctx, c, wsMessage{Type: "pong"})
			}
			continue
		}
		return m
	}
}

type subscribedEvent struct {
	Events struct{ ID, Type, StreamID, Position string }
}

func payloadEvent(t *testing.T, m wsMessage) subscribedEvent {
	t.Helper()
	var p struct {
		Data   subscribedEvent
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		t.Fatalf("payload %s: %v %+v", m.Payload, err, p.Errors)
	}
	return p.Data
}

// TestSubscriptionReplaysThenStaysLive: over graphql-transport-ws, a
// subscription from a cursor replays what follows it, then receives an event
// appended after it started, with nothing skipped or repeated.
func TestSubscriptionReplaysThenStaysLive(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	first := e.registerRisk(t, staff, "One")
	e.registerRisk(t, staff, "Two")
	var log struct {
		Events struct{ Edges []struct{ Cursor string } }
	}
	e.must(t, staff, `{ events { edges { cursor } } }`, nil, &log)
	after := log.Events.Edges[0].Cursor

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.connectWS(t, ctx, "graphql-transport-ws", staff)
	sub, _ := json.Marshal(map[string]any{"query": `subscription($after: String) { events(after: $after) { id type streamId position } }`,
		"variables": map[string]any{"after": after}})
	send(t, ctx, c, wsMessage{ID: "1", Type: "subscribe", Payload: sub})

	replayed := payloadEvent(t, next(t, ctx, c))
	if replayed.Events.Position <= after || replayed.Events.StreamID == first.ID {
		t.Errorf("replay began with %+v, want the event after %s", replayed.Events, after)
	}
	third := e.registerRisk(t, staff, "Three")
	live := payloadEvent(t, next(t, ctx, c))
	if live.Events.StreamID != third.ID || live.Events.Type != "RiskRegistered" || live.Events.Position <= replayed.Events.Position {
		t.Errorf("live event %+v, want the registration of %s after %s", live.Events, third.ID, replayed.Events.Position)
	}
	send(t, ctx, c, wsMessage{ID: "1", Type: "complete"})
	c.Close(websocket.StatusNormalClosure, "")
}

// TestSubscriptionEndsWhenTheClientLeaves: a client that goes away without
// completing its subscription leaves no goroutine behind.
func TestSubscriptionEndsWhenTheClientLeaves(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.connectWS(t, ctx, "graphql-transport-ws", staff)
	send(t, ctx, c, wsMessage{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { events { id } }"}`)})
	e.registerRisk(t, staff, "Seen")
	payloadEvent(t, next(t, ctx, c))
	if got := e.api.Subscriptions(); got != 1 {
		t.Fatalf("%d subscriptions running, want 1", got)
	}

	c.CloseNow() // the client vanishes: no complete, no close handshake
	deadline := time.Now().Add(10 * time.Second)
	for e.api.Subscriptions() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions still running 10s after their client left", e.api.Subscriptions())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubscriptionLegacyProtocol: the same over the legacy graphql-ws.
func TestSubscriptionLegacyProtocol(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "int", "integration")
	staff := e.token(t, "sam", staffRole)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.connectWS(t, ctx, "graphql-ws", tok)
	sub, _ := json.Marshal(map[string]any{"query": `subscription { events(types: ["RiskRegistered"]) { id type streamId position } }`})
	send(t, ctx, c, wsMessage{ID: "1", Type: "start", Payload: sub})
	risk := e.registerRisk(t, staff, "Live")
	m := next(t, ctx, c)
	if m.Type != "data" || payloadEvent(t, m).Events.StreamID != risk.ID {
		t.Errorf("got %+v, want the registration of %s", m, risk.ID)
	}
}

// TestWebsocketBadTokenCloses4403: a bad or missing token in
// connection_init closes the socket with 4403.
func TestWebsocketBadTokenCloses4403(t *testing.T) {
	e := newEnv(t)
	for name, payload := range map[string]string{
		"bad":     `{"Authorization":"Bearer rr_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		"missing": `{}`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c := e.dialWS(t, ctx, "graphql-transport-ws")
		send(t, ctx, c, wsMessage{Type: "connection_init", Payload: json.RawMessage(payload)})
		var err error
		for err == nil {
			var m wsMessage
			err = wsjson.Read(ctx, c, &m)
		}
		var closeErr websocket.CloseError
		if !errors.As(err, &closeErr) || closeErr.Code != 4403 {
			t.Errorf("%s token: %v, want close 4403", name, err)
		}
		cancel()
	}
}

// TestShutdownClosesSubscriptions: CloseSubscriptions ends a live
// subscription's socket with a close frame.
func TestShutdownClosesSubscriptions(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "int", "integration")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := e.connectWS(t, ctx, "graphql-transport-ws", tok)
	sub, _ := json.Marshal(map[string]any{"query": `subscription { events { id } }`})
	send(t, ctx, c, wsMessage{ID: "1", Type: "subscribe", Payload: sub})
	e.api.CloseSubscriptions()
	var err error
	for err == nil {
		var m wsMessage
		err = wsjson.Read(ctx, c, &m)
	}
	if status := websocket.CloseStatus(err); status != websocket.StatusNormalClosure {
		t.Errorf("after shutdown: %v, want a normal close frame", err)
	}
}
