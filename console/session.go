package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
)

// Cookie names of the console.
const (
	sessionCookie = "riskreg_session"
	loginCookie   = "riskreg_login" // the sign-in form's CSRF token, before a session exists
)

// touchEvery is how stale a session's last_seen_at may get before a request
// writes it again: sessions idle out to within this much.
const touchEvery = time.Minute

// session is a signed-in user of the console.
type session struct {
	hash      []byte
	tokenID   string
	csrf      string
	principal domain.Principal
}

// sessions keeps the console's sessions in console_sessions (migration
// 000060). Each is tied to the token its user signed in with, and the token
// is looked up again on every request.
type sessions struct {
	pool   *pgxpool.Pool
	tokens *auth.Store
	now    func() time.Time
	idle   time.Duration
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(value string) []byte {
	h := sha256.Sum256([]byte(value))
	return h[:]
}

// create starts a session for the holder of token t and returns the
// cookie's value. Sessions that expired or idled out are deleted on the way.
func (s *sessions) create(ctx context.Context, t auth.Token) (string, error) {
	now := s.now().UTC()
	value := randomString(32)
	var expires *time.Time
	if !t.ExpiresAt.IsZero() {
		expires = &t.ExpiresAt
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		now, now.Add(-s.idle)); err != nil {
		return "", fmt.Errorf("console: delete old sessions: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (session_hash, token_id, csrf_token, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $4, $5)`, hashOf(value), t.ID, randomString(32), now, expires)
	if err != nil {
		return "", fmt.Errorf("console: create session: %w", err)
	}
	return value, nil
}

// errNoSession is lookup's answer for a missing, expired, idle or revoked
// session.
var errNoSession = errors.New("console: no session")

// lookup returns the session of a cookie's value, checking its token.
func (s *sessions) lookup(ctx context.Context, value string) (session, error) {
	if value == "" {
		return session{}, errNoSession
	}
	now := s.now().UTC()
	sess := session{hash: hashOf(value)}
	var lastSeen time.Time
	var expires *time.Time
	err := s.pool.QueryRow(ctx, `SELECT token_id, csrf_token, last_seen_at, expires_at FROM console_sessions WHERE session_hash = $1`,
		sess.hash).Scan(&sess.tokenID, &sess.csrf, &lastSeen, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return session{}, errNoSession
	case err != nil:
		return session{}, fmt.Errorf("console: look up session: %w", err)
	case (expires != nil && !now.Before(*expires)) || !now.Before(lastSeen.Add(s.idle)):
		return session{}, errNoSession
	}
	t, err := s.tokens.Active(ctx, sess.tokenID)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, err
	}
	sess.principal = t.Principal()
	if now.Sub(lastSeen) >= touchEvery {
		if _, err := s.pool.Exec(ctx, `UPDATE console_sessions SET last_seen_at = $2 WHERE session_hash = $1`, sess.hash, now); err != nil {
			return session{}, fmt.Errorf("console: touch session: %w", err)
		}
	}
	return sess, nil
}

// end deletes a session.
func (s *sessions) end(ctx context.Context, sess session) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE session_hash = $1`, sess.hash); err != nil {
		return fmt.Errorf("console: end session: %w", err)
	}
	return nil
}

// setCookie sets a cookie of the console: HttpOnly, SameSite=Strict, for the
// whole site, Secure when the request came over TLS. maxAge < 0 deletes it;
// 0 makes it last as long as the browser's session.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}
