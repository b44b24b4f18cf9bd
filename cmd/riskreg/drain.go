package main

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// defaultDrain is how long serve keeps serving after SIGTERM by default,
// with /readyz failing, so that a load balancer stops sending it requests
// before it stops accepting them.
const defaultDrain = 5 * time.Second

// drainReadiness answers GET /readyz with 503 "not ready: draining" once
// draining is set, and passes every other request to next.
func drainReadiness(draining *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() && r.Method == http.MethodGet && r.URL.Path == "/readyz" {
			http.Error(w, "not ready: draining", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// drain fails readiness and keeps srv serving for d (new connections
// included), with keep-alives off so that clients open their next
// connections through the load balancer to another replica. It returns
// early when srv stops serving (served receives). draining may be nil when
// nothing reports readiness.
func drain(srv *http.Server, draining *atomic.Bool, d time.Duration, served <-chan error, logger *slog.Logger) (stopped error, early bool) {
	if draining != nil {
		draining.Store(true)
	}
	if d <= 0 {
		return nil, false
	}
	logger.Info("draining: /readyz fails; still serving", "for", d.String())
	srv.SetKeepAlivesEnabled(false)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-served:
		return err, true
	case <-t.C:
		return nil, false
	}
}
