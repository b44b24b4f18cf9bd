package graph

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/riskreg/riskreg/auth"
)

// retryAfter is the Retry-After of an UNAVAILABLE answer: about how long the
// embedded PostgreSQL takes to come back after a crash.
const retryAfter = 5

// markUnavailable records that an answer of the request ctx belongs to is
// UNAVAILABLE, so that it goes out as HTTP 503 with Retry-After.
func markUnavailable(ctx context.Context) {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		st.mu.Lock()
		st.unavailable = true
		st.mu.Unlock()
	}
}

func (st *requestState) isUnavailable() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.unavailable
}

// setRetryAfter sets the Retry-After header of a 503 answer.
func setRetryAfter(h http.Header) {
	h.Set("Retry-After", strconv.Itoa(retryAfter))
}

// unauthenticatedMessage is the message of a 401: why a genuine token no
// longer works, or the plain answer for any other.
func unauthenticatedMessage(err error) string {
	switch {
	case errors.Is(err, auth.ErrExpired):
		return "the bearer token has expired; ask for a new one"
	case errors.Is(err, auth.ErrRevoked):
		return "the bearer token was revoked; ask for a new one"
	}
	return "a valid bearer token is required"
}
