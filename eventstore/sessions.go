package eventstore

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// IdleInTransactionTimeout is the longest a transaction on a bounded session
// may wait for its client between two statements. PostgreSQL ends a session
// that waits longer, which rolls its transaction back.
const IdleInTransactionTimeout = 3 * time.Second

// BoundSessions sets the session parameters that keep a hung or lost client
// from holding the log back, on every connection made with cfg (a pool's
// ConnConfig, say). The readers of the global log wait for the oldest
// transaction still running (the horizon, see Position), so a transaction
// that a stopped process left open would stall every subscriber and
// projection of every process:
//
//   - idle_in_transaction_session_timeout ends a session whose transaction
//     waits for its client longer than IdleInTransactionTimeout (a process
//     stopped, paused or cut off between two statements of an append or a
//     projection batch);
//   - tcp_keepalives_idle, tcp_keepalives_interval and tcp_keepalives_count
//     make the server probe a silent client after 5 s and give up after
//     three unanswered probes 2 s apart, and tcp_user_timeout gives up on
//     data the client's host does not acknowledge within 10 s (a host lost
//     without closing its connections, in the middle of a statement).
//
// Parameters the caller set already are kept.
func BoundSessions(cfg *pgx.ConnConfig) {
	params := map[string]string{
		"idle_in_transaction_session_timeout": fmt.Sprint(IdleInTransactionTimeout.Milliseconds()),
		"tcp_keepalives_idle":                 "5",
		"tcp_keepalives_interval":             "2",
		"tcp_keepalives_count":                "3",
		"tcp_user_timeout":                    "10000",
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = make(map[string]string)
	}
	for k, v := range params {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
}
