package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// closeCode reads c until it fails and returns the close code it ended with
// (-1 when it ended without a close frame).
func closeCode(ctx context.Context, c *websocket.Conn) (int, error) {
	for {
		var m wsMessage
		err := wsjson.Read(ctx, c, &m)
		if err == nil {
			if m.Type == "ping" {
				_ = wsjson.Write(ctx, c, wsMessage{Type: "pong"})
			}
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return int(ce.Code), nil
		}
		return -1, err
	}
}

func subscribeAll(t *testing.T, ctx context.Context, c *websocket.Conn, id string) {
	t.Helper()
	send(t, ctx, c, wsMessage{ID: id, Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { events { id } }"}`)})
}

// TestWebsocketCaps: a principal's sockets over the cap close with 4429, a
// socket's subscriptions over its cap are refused with
// SUBSCRIPTION_LIMIT_EXCEEDED, and both slots come back when they end.
func TestWebsocketCaps(t *testing.T) {
	e := newEnv(t, func(o *graph.Options) {
		o.MaxWebsocketsPerPrincipal = 2
		o.MaxSubscriptionsPerSocket = 2
	})
	tok := e.token(t, "feed", domain.RoleIntegration)
	other := e.token(t, "sam", staffRole)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first := e.connectWS(t, ctx, "graphql-transport-ws", tok)
	e.connectWS(t, ctx, "graphql-transport-ws", tok)
	third := e.dialWS(t, ctx, "graphql-transport-ws")
	send(t, ctx, third, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + tok + `"}`)})
	if code, err := closeCode(ctx, third); code != graph.CloseTooManyConnections {
		t.Fatalf("third socket of one principal: close %d, %v; want %d", code, err, graph.CloseTooManyConnections)
	}
	e.connectWS(t, ctx, "graphql-transport-ws", other) // another principal has its own sockets

	subscribeAll(t, ctx, first, "1")
	subscribeAll(t, ctx, first, "2")
	subscribeAll(t, ctx, first, "3")
	// The three start concurrently: any one of them is the one refused.
	m := next(t, ctx, first)
	var answer struct{ Errors []gqlError }
	if err := json.Unmarshal(m.Payload, &answer); err != nil || m.Type != "next" || len(answer.Errors) != 1 ||
		answer.Errors[0].Extensions["code"] != graph.CodeSubscriptionLimit {
		t.Fatalf("third subscription on one socket: %s %s (%v), want an error %s", m.Type, m.Payload, err, graph.CodeSubscriptionLimit)
	}
	refused := m.ID
	if m := next(t, ctx, first); m.Type != "complete" || m.ID != refused {
		t.Fatalf("after the refusal of %s: %+v, want its complete", refused, m)
	}
	running := "1"
	if refused == "1" {
		running = "2"
	}
	send(t, ctx, first, wsMessage{ID: running, Type: "complete"})
	waitFor(t, "the completed subscription to end", func() bool { return e.api.Subscriptions() == 1 })
	subscribeAll(t, ctx, first, "4")
	waitFor(t, "a subscription in the freed slot", func() bool { return e.api.Subscriptions() == 2 })

	first.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the closed socket to be released", func() bool { return e.api.Websockets() == 2 })
	e.connectWS(t, ctx, "graphql-transport-ws", tok)
}

// waitFor polls cond every 10ms for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRevokedTokenClosesItsSockets: revoking a token closes every socket of
// that token with 4403 within 5s, over both protocols and with the token in
// the upgrade's header or in connection_init; a socket of another token
// stays.
func TestRevokedTokenClosesItsSockets(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "feed", domain.RoleIntegration)
	other := e.token(t, "sam", staffRole)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sockets := []*websocket.Conn{
		e.connectWS(t, ctx, "graphql-transport-ws", tok),
		e.connectWS(t, ctx, "graphql-ws", tok),
	}
	url := "ws" + e.srv.URL[len("http"):]
	byHeader, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader: map[string][]string{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	defer byHeader.CloseNow()
	send(t, ctx, byHeader, wsMessage{Type: "connection_init"})
	if m := next(t, ctx, byHeader); m.Type != "connection_ack" {
		t.Fatalf("header-authenticated socket: %+v", m)
	}
	sockets = append(sockets, byHeader)
	for i, c := range sockets {
		typ := "subscribe"
		if i == 1 {
			typ = "start"
		}
		send(t, ctx, c, wsMessage{ID: "1", Type: typ, Payload: json.RawMessage(`{"query":"subscription { events { id } }"}`)})
	}
	stays := e.connectWS(t, ctx, "graphql-transport-ws", other)
	subscribeAll(t, ctx, stays, "1")
	waitFor(t, "4 subscriptions", func() bool { return e.api.Subscriptions() == 4 })

	id, _ := auth.TokenID(tok)
	if err := e.tokens.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	within, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	for i, c := range sockets {
		if code, err := closeCode(within, c); code != graph.CloseUnauthorized {
			t.Errorf("socket %d after revocation: close %d, %v; want %d within 5s", i, code, err, graph.CloseUnauthorized)
		}
	}
	t.Logf("closed %v after the revocation", time.Since(revoked).Round(time.Millisecond))
	waitFor(t, "the revoked token's subscriptions to end", func() bool { return e.api.Subscriptions() == 1 })
	staff := e.token(t, "clerk", staffRole)
	risk := e.registerRisk(t, staff, "Still streaming")
	if got := payloadEvent(t, next(t, ctx, stays)); got.Events.ID == "" {
		t.Errorf("the other token's subscription got %+v after %s was registered", got, risk.ID)
	}
}

// TestExpiredTokenClosesItsSockets: a token that expires while its socket is
// open closes it with 4403 within 5s; the store's clock is the test's.
func TestExpiredTokenClosesItsSockets(t *testing.T) {
	pool := pgtest.NewPool(t)
	var clock atomic.Int64
	clock.Store(time.Now().Truncate(time.Microsecond).UnixNano())
	tokens := auth.NewStore(pool, func() time.Time { return time.Unix(0, clock.Load()) })
	e := newEnvOn(t, pool, func(o *graph.Options) { o.Tokens = tokens })
	tok, _, err := tokens.Create(context.Background(), "feed", []domain.Role{domain.RoleIntegration}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.connectWS(t, ctx, "graphql-transport-ws", tok)
	subscribeAll(t, ctx, c, "1")
	waitFor(t, "the subscription", func() bool { return e.api.Subscriptions() == 1 })

	clock.Add(int64(time.Hour))
	within, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if code, err := closeCode(within, c); code != graph.CloseUnauthorized {
		t.Fatalf("after expiry: close %d, %v; want %d within 5s", code, err, graph.CloseUnauthorized)
	}
	waitFor(t, "the subscription to end", func() bool { return e.api.Subscriptions() == 0 && e.api.Websockets() == 0 })
}
