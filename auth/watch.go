package auth

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// CheckFunc reports which of ids still name an active credential (a token,
// a session): the ids it leaves out of active were revoked, expired or
// deleted. An error means it could not tell.
type CheckFunc func(ctx context.Context, ids []string) (active map[string]bool, err error)

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Check looks the watched ids up, all of them in one call.
	Check CheckFunc
	// Interval is the time between two checks; 0 means one second.
	Interval time.Duration
	// Logger receives failed checks; nil means slog.Default().
	Logger *slog.Logger
}

// Watcher ends live sessions (websockets, long-lived streams) whose
// credential was revoked or expired. Every Interval it checks the ids of all
// the sessions it watches in one call to Check, so the cost is one query per
// interval whatever the number of sessions or the traffic on them, and a
// revocation or an expiry ends the sessions of its id within one interval
// (plus the check's own time). A goroutine runs only while a session is
// watched. When a check fails, the sessions stay and the next check decides.
type Watcher struct {
	cfg WatcherConfig

	mu      sync.Mutex
	watched map[*watch]struct{}
	running bool

	failing bool // the last check failed (only the loop uses it)
}

// watch is one watched session.
type watch struct {
	id  string
	end func()
}

// NewWatcher returns a Watcher; it starts nothing until a session is
// watched.
func NewWatcher(cfg WatcherConfig) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, watched: map[*watch]struct{}{}}
}

// Watch watches a session of credential id: end is called once, from the
// watcher's goroutine, when a check no longer finds id active. end must not
// block. Call stop when the session ends for another reason; after stop,
// end is not called (unless it already runs).
func (w *Watcher) Watch(id string, end func()) (stop func()) {
	s := &watch{id: id, end: end}
	w.mu.Lock()
	w.watched[s] = struct{}{}
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.watched, s)
		w.mu.Unlock()
	}
}

// Watched returns how many sessions are watched.
func (w *Watcher) Watched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watched)
}

// loop checks the watched sessions every interval until none is left.
func (w *Watcher) loop() {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for range t.C {
		w.mu.Lock()
		if len(w.watched) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		sessions := make([]*watch, 0, len(w.watched))
		seen := map[string]bool{}
		var ids []string
		for s := range w.watched {
			sessions = append(sessions, s)
			if !seen[s.id] {
				seen[s.id] = true
				ids = append(ids, s.id)
			}
		}
		w.mu.Unlock()
		w.check(sessions, ids)
	}
}

// check looks ids up and ends the sessions whose id is no longer active.
func (w *Watcher) check(sessions []*watch, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), max(w.cfg.Interval, lookupTimeout))
	defer cancel()
	active, err := w.cfg.Check(ctx, ids)
	if err != nil {
		if !w.failing { // once per outage, not every interval
			w.cfg.Logger.Warn("auth: checking live sessions failed; they stay until a check succeeds", "sessions", len(sessions), "err", err)
		}
		w.failing = true
		return
	}
	if w.failing {
		w.cfg.Logger.Info("auth: checking live sessions works again", "sessions", len(sessions))
		w.failing = false
	}
	for _, s := range sessions {
		if active[s.id] {
			continue
		}
		w.mu.Lock()
		_, still := w.watched[s]
		delete(w.watched, s)
		w.mu.Unlock()
		if still {
			s.end()
		}
	}
}

// ActiveTokens reports which of the token ids name an active token (not
// revoked, not expired on the store's clock), in one query. It is the
// CheckFunc of a Watcher of API tokens.
func (s *Store) ActiveTokens(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, selectTokens+` WHERE token_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("auth: check tokens: %w", err)
	}
	defer rows.Close()
	now := s.now()
	active := make(map[string]bool, len(ids))
	for rows.Next() {
		var (
			t    Token
			hash []byte
		)
		if err := s.scanOne(rows, &t, &hash); err != nil {
			return nil, fmt.Errorf("auth: check tokens: %w", err)
		}
		if t.Active(now) {
			active[t.ID] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: check tokens: %w", err)
	}
	return active, nil
}

// TokenID returns the id of a well-formed token (the id Watch and
// ActiveTokens take, and "riskreg token list" shows); ok is false when token
// is not of the form "rr_<id>_<secret>".
func TokenID(token string) (id string, ok bool) { return tokenID(token) }
