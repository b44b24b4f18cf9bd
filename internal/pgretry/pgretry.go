// Package pgretry tells the PostgreSQL errors that mean "the database could
// not be reached" from the others, and retries what is safe to retry: a
// statement that provably never reached PostgreSQL, or a read, which has no
// effect to repeat. Each attempt takes a connection from the pool afresh; a
// broken one is not returned to it.
package pgretry

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// attempts is how often Do and Read try.
const attempts = 4

// NotSent reports whether err happened before anything reached PostgreSQL:
// a failed connect, or an error that pgconn.SafeToRetry vouches for. A
// context that ended is not such an error: the caller gave up.
func NotSent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connect *pgconn.ConnectError
	return errors.As(err, &connect) || pgconn.SafeToRetry(err)
}

// Unavailable reports whether err means that the database is down or the
// connection to it was lost: NotSent, a connection exception (SQLSTATE
// class 08), an operator intervention (class 57: the backend was
// terminated, the server is shutting down or starting; not a cancelled
// statement), a session ended for idling in a transaction, too many
// connections, or a connection that ended under the query.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if NotSent(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57014 (a statement timeout or a cancel) is the statement's own end.
		// 25P03: the server ended an idle transaction's session (the
		// process was stopped), rolling the transaction back.
		return pgerrcode.IsConnectionException(pgErr.Code) || pgErr.Code == pgerrcode.TooManyConnections ||
			pgErr.Code == pgerrcode.IdleInTransactionSessionTimeout ||
			(pgerrcode.IsOperatorIntervention(pgErr.Code) && pgErr.Code != pgerrcode.QueryCanceled)
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// Do runs fn, and again while its error is NotSent, up to four times in all
// with a short backoff. It returns fn's last error.
func Do(ctx context.Context, fn func(context.Context) error) error {
	return retry(ctx, NotSent, fn)
}

// Read runs fn, which must only read, and again while its error is
// Unavailable, up to four times in all with a short backoff. It returns
// fn's last error.
func Read(ctx context.Context, fn func(context.Context) error) error {
	return retry(ctx, Unavailable, fn)
}

func retry(ctx context.Context, again func(error) bool, fn func(context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 20 * time.Millisecond
	b.MaxInterval = 500 * time.Millisecond
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = fn(ctx)
		if last != nil && !again(last) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	}, backoff.WithBackOff(b), backoff.WithMaxTries(attempts))
	if err != nil && last != nil {
		return last
	}
	return err
}
