package graph

import (
	"context"
	"net/http"
	"strconv"
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
