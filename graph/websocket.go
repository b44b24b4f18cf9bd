package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	coderws "github.com/coder/websocket"
	"golang.org/x/sync/semaphore"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The close codes of a websocket that the server ends, besides the
// protocols' own (1000 normal, 1001 shutting down, 1002 protocol error).
const (
	// CloseUnauthorized: connection_init carried no valid token, or the
	// socket's token was revoked or expired while it was open.
	CloseUnauthorized = 4403
	// CloseSlowClient: the client did not take what the server sent: a
	// message waited longer than the write timeout for room in the
	// socket's send buffer, or a graphql-transport-ws ping went unanswered
	// for two ping intervals. The socket's memory is freed at once.
	CloseSlowClient = 4008
	// CloseTooManyConnections: the principal already has the most
	// websockets open that it may (Options.MaxWebsocketsPerPrincipal).
	CloseTooManyConnections = 4429
)

// CodeSubscriptionLimit is the error code of a subscription refused because
// its socket already runs Options.MaxSubscriptionsPerSocket subscriptions.
const CodeSubscriptionLimit = "SUBSCRIPTION_LIMIT_EXCEEDED"

// wsQueueMessages bounds the number of messages waiting in one socket's
// send buffer, whatever their size; Options.WebsocketSendBuffer bounds
// their bytes.
const wsQueueMessages = 1024

// wsSession is one websocket connection as the server tracks it: its
// principal, token, subscriptions and socket.
type wsSession struct {
	srv *Server

	mu      sync.Mutex
	conn    *wsConn // set when the upgrade is accepted
	tokenID string  // of the token that authenticated the socket
	subject string  // set when admitted: counted in srv.sockets
	subs    int     // subscriptions running on the socket
	stop    func()  // stops watching the token
}

type wsSessionKey struct{}

func sessionFrom(ctx context.Context) *wsSession {
	s, _ := ctx.Value(wsSessionKey{}).(*wsSession)
	return s
}

// admit counts the socket for subject and watches its token, or refuses
// it when subject has as many sockets as it may.
func (s *wsSession) admit(subject string) bool {
	srv := s.srv
	srv.socketsMu.Lock()
	if srv.sockets[subject] >= srv.cfg.MaxWebsocketsPerPrincipal {
		srv.socketsMu.Unlock()
		return false
	}
	srv.sockets[subject]++
	srv.socketsMu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.subject = subject
	if s.tokenID != "" {
		s.stop = srv.sessions.Watch(s.tokenID, func() {
			s.close(CloseUnauthorized, "the token was revoked or expired")
		})
	}
	return true
}

// release forgets the socket; it may be called more than once.
func (s *wsSession) release() {
	s.mu.Lock()
	subject, stop := s.subject, s.stop
	s.subject, s.stop = "", nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	if subject == "" {
		return
	}
	srv := s.srv
	srv.socketsMu.Lock()
	if srv.sockets[subject]--; srv.sockets[subject] <= 0 {
		delete(srv.sockets, subject)
	}
	srv.socketsMu.Unlock()
}

// close ends the socket with code, dropping what it had not sent yet.
func (s *wsSession) close(code int, reason string) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.closeWith(code, reason, false)
	}
}

// startSubscription takes one of the socket's subscription slots; done gives
// it back. A request that is not on a websocket takes none.
func startSubscription(ctx context.Context) (done func(), err error) {
	s := sessionFrom(ctx)
	if s == nil {
		return func() {}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit := s.srv.cfg.MaxSubscriptionsPerSocket; s.subs >= limit {
		return nil, &gqlerror.Error{
			Message:    "this socket already runs the most subscriptions it may; end one or open another socket",
			Extensions: map[string]any{"code": CodeSubscriptionLimit, "limit": limit},
		}
	}
	s.subs++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.subs--
			s.mu.Unlock()
		})
	}, nil
}

// Websockets returns how many websockets are open and admitted.
func (s *Server) Websockets() int {
	s.socketsMu.Lock()
	defer s.socketsMu.Unlock()
	n := 0
	for _, c := range s.sockets {
		n += c
	}
	return n
}

// wsImplementation accepts websockets with coder/websocket behind a
// bounded send buffer (wsConn).
type wsImplementation struct {
	srv    *Server
	accept coderws.AcceptOptions
}

// Accept implements transport.WebsocketImplementation.
func (i wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for key, values := range opts.ResponseHeader {
		for _, v := range values {
			w.Header().Add(key, v)
		}
	}
	accept := i.accept
	accept.Subprotocols = append(accept.Subprotocols[:len(accept.Subprotocols):len(accept.Subprotocols)], opts.Subprotocols...)
	conn, err := coderws.Accept(w, r, &accept)
	if err != nil {
		return nil, err
	}
	c := newWSConn(r.Context(), conn, i.srv.cfg.WebsocketSendBuffer, i.srv.cfg.WebsocketWriteTimeout)
	if s := sessionFrom(r.Context()); s != nil {
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
	}
	return c, nil
}

// wsConn is a websocket whose messages go out through a bounded buffer,
// written by one goroutine with a deadline each, so that a client that does
// not read holds at most the buffer and is closed with CloseSlowClient
// instead of blocking the server's goroutines. It implements
// transport.WebsocketConn.
type wsConn struct {
	conn    *coderws.Conn
	timeout time.Duration
	limit   int64               // bytes the buffer holds at most
	budget  *semaphore.Weighted // of limit bytes
	queue   chan queued

	closing context.Context // ends when closeWith is called
	cancel  context.CancelFunc
	once    sync.Once
	code    coderws.StatusCode
	reason  string
	flush   bool

	mu       sync.Mutex
	deadline *time.Timer // the read deadline's
}

type queued struct {
	data []byte
	cost int64
}

var errSlowClient = errors.New("graph: the websocket client does not read what it is sent")

func newWSConn(reqCtx context.Context, conn *coderws.Conn, limit int64, timeout time.Duration) *wsConn {
	c := &wsConn{conn: conn, timeout: timeout, limit: limit, budget: semaphore.NewWeighted(limit),
		queue: make(chan queued, wsQueueMessages)}
	c.closing, c.cancel = context.WithCancel(context.Background())
	go c.writeLoop(reqCtx.Done())
	return c
}

// WriteJSON queues v; it waits up to the write timeout for room, then closes
// the socket with CloseSlowClient.
func (c *wsConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if c.closing.Err() != nil {
		return net.ErrClosed
	}
	// A message over the whole buffer waits for the buffer to be empty.
	m := queued{data: data, cost: min(int64(len(data)), c.limit)}
	ctx, cancel := context.WithTimeout(c.closing, c.timeout)
	defer cancel()
	if err := c.budget.Acquire(ctx, m.cost); err != nil {
		return c.stalled()
	}
	select {
	case c.queue <- m:
		return nil
	case <-ctx.Done():
		c.budget.Release(m.cost)
		return c.stalled()
	}
}

// stalled closes a socket whose buffer stayed full for the write timeout.
func (c *wsConn) stalled() error {
	if c.closing.Err() != nil {
		return net.ErrClosed
	}
	c.closeWith(CloseSlowClient, "the client did not read", false)
	return errSlowClient
}

// writeLoop writes the queued messages until the socket closes.
func (c *wsConn) writeLoop(reqDone <-chan struct{}) {
	for {
		select {
		case m := <-c.queue:
			if err := c.write(m); err != nil {
				c.closeWith(CloseSlowClient, "the client did not read", false)
				_ = c.conn.CloseNow()
				return
			}
		case <-c.closing.Done():
			if c.flush && !c.drain() {
				_ = c.conn.CloseNow()
				return
			}
			_ = c.conn.Close(c.code, c.reason)
			return
		case <-reqDone:
			// The transport gave the socket up without closing it.
			c.closeWith(int(coderws.StatusGoingAway), "", false)
			_ = c.conn.CloseNow()
			return
		}
	}
}

// drain writes what is queued, reporting whether every write succeeded.
func (c *wsConn) drain() bool {
	for {
		select {
		case m := <-c.queue:
			if c.write(m) != nil {
				return false
			}
		default:
			return true
		}
	}
}

func (c *wsConn) write(m queued) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	defer c.budget.Release(m.cost)
	return c.conn.Write(ctx, coderws.MessageText, m.data)
}

// closeWith ends the socket with code and reason: the writer sends the close
// frame, after what is queued when flush is set. Only the first call
// counts.
func (c *wsConn) closeWith(code int, reason string, flush bool) {
	c.once.Do(func() {
		c.code, c.reason, c.flush = coderws.StatusCode(code), reason, flush
		_ = c.SetReadDeadline(time.Time{})
		c.cancel()
	})
}

// WriteClose implements transport.WebsocketConn: what is queued goes out
// first, then the close frame.
func (c *wsConn) WriteClose(code int, reason string) error {
	c.closeWith(code, reason, true)
	return nil
}

// Close implements transport.WebsocketConn. The writer owns the socket
// once a close was asked for; otherwise it closes at once.
func (c *wsConn) Close() error {
	started := c.closing.Err() != nil
	c.closeWith(int(coderws.StatusNormalClosure), "", false)
	if started {
		return nil
	}
	return c.conn.CloseNow()
}

// NextReader implements transport.WebsocketConn.
func (c *wsConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch coderws.CloseStatus(err) {
		case coderws.StatusNormalClosure, coderws.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

// Subprotocol implements transport.WebsocketConn.
func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

// SetReadLimit implements transport.WebsocketReadLimiter.
func (c *wsConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

// SetReadDeadline implements transport.WebsocketReadDeadliner: the transport
// sets one when it pings, and clears it when the pong comes. A client that
// lets it pass is closed with CloseSlowClient.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deadline != nil {
		c.deadline.Stop()
		c.deadline = nil
	}
	if !t.IsZero() {
		c.deadline = time.AfterFunc(max(time.Until(t), 0), func() {
			c.closeWith(CloseSlowClient, "the client did not answer a ping", false)
		})
	}
	return nil
}
