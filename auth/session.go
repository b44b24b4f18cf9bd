package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
)

// Check returns the description of an active token, or ErrUnauthenticated;
// it checks the token as Authenticate does. Callers that keep a session of
// their own (the web console) remember the token's ID and look it up again
// with Active on every request.
func (s *Store) Check(ctx context.Context, token string) (Token, error) {
	id, ok := tokenID(token)
	if !ok {
		return Token{}, ErrUnauthenticated
	}
	l, err := s.lookUp(ctx, id)
	if err != nil {
		return Token{}, err
	}
	hash := sha256.Sum256([]byte(token))
	if !l.found || subtle.ConstantTimeCompare(hash[:], l.hash) != 1 {
		return Token{}, ErrUnauthenticated
	}
	// The token is genuine: its holder may learn why it no longer works.
	switch {
	case !l.token.RevokedAt.IsZero():
		return Token{}, ErrRevoked
	case !l.token.Active(s.now()):
		return Token{}, ErrExpired
	}
	return l.token, nil
}

// Active returns the token with id while it is active (neither expired nor
// revoked), or ErrUnauthenticated. It does not check a secret: use it only
// for a token whose holder proved it with Check before. Like Authenticate it
// reads the token on every call, gathered with concurrent look-ups, so a
// revocation takes effect at once.
func (s *Store) Active(ctx context.Context, id string) (Token, error) {
	l, err := s.lookUp(ctx, id)
	if err != nil {
		return Token{}, err
	}
	if !l.found || !l.token.Active(s.now()) {
		return Token{}, ErrUnauthenticated
	}
	return l.token, nil
}
