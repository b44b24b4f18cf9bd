// Package auth issues and checks the opaque bearer tokens of riskreg's API.
//
// A token reads "rr_<id>_<secret>": id is 16 hex digits that name the token
// (in "riskreg token list" and "token revoke"), secret is 256 random bits from
// crypto/rand. The database keeps only the SHA-256 hash of the whole token, so
// a copy of the table does not let anyone call the API. Authenticate looks the
// token up by its id and compares the hashes in constant time; it reads the
// row on every call (gathering the look-ups of concurrent calls into one
// query), so expiry and revocation take effect at once.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
)

// ErrUnauthenticated is returned for a missing, malformed, unknown, expired or
// revoked token. For a missing, malformed, unknown or forged one it never
// says which, so that it tells a guesser nothing (see ErrExpired).
var ErrUnauthenticated = errors.New("auth: missing or invalid bearer token")

// ErrExpired and ErrRevoked are returned by Authenticate, wrapping
// ErrUnauthenticated, for a genuine token (its secret matches) that expired
// or was revoked: whoever presents it was given it, so saying why tells a
// guesser nothing. An unknown or forged token gets ErrUnauthenticated alone.
var (
	ErrExpired = fmt.Errorf("%w: the token has expired", ErrUnauthenticated)
	ErrRevoked = fmt.Errorf("%w: the token was revoked", ErrUnauthenticated)
)

// ErrNotFound is returned by Revoke for a token id that does not exist.
var ErrNotFound = errors.New("auth: no such token")

const (
	prefix     = "rr_"
	idBytes    = 8
	secretBits = 256
)

// Token describes an issued token; it never holds the token itself.
type Token struct {
	ID        string
	Subject   string
	Roles     []domain.Role
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
	RevokedAt time.Time // zero: not revoked
}

// Active reports whether t may be used at now.
func (t Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Store keeps tokens in the auth_tokens table (migration 000005).
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu       sync.Mutex
	waiting  []*lookup // look-ups for the next query (see lookUp)
	querying bool      // a goroutine is answering look-ups
}

// NewStore returns a Store on pool; now is the clock (time.Now in
// production).
func NewStore(pool *pgxpool.Pool, now func() time.Time) *Store {
	return &Store{pool: pool, now: now}
}

// Create issues a token for subject with roles, valid for ttl (0: no
// expiry), and returns the token, which is shown only this once.
func (s *Store) Create(ctx context.Context, subject string, roles []domain.Role, ttl time.Duration) (string, Token, error) {
	subject = strings.TrimSpace(subject)
	if subject == "" {
		return "", Token{}, errors.New("auth: the subject must not be blank")
	}
	if len(roles) == 0 {
		return "", Token{}, errors.New("auth: a token needs at least one role")
	}
	for _, r := range roles {
		if !r.Valid() {
			return "", Token{}, fmt.Errorf("auth: unknown role %q", r)
		}
	}
	if ttl < 0 {
		return "", Token{}, errors.New("auth: the expiry must not be negative")
	}
	idRaw := make([]byte, idBytes)
	secretRaw := make([]byte, secretBits/8)
	if _, err := rand.Read(idRaw); err != nil {
		return "", Token{}, fmt.Errorf("auth: random id: %w", err)
	}
	if _, err := rand.Read(secretRaw); err != nil {
		return "", Token{}, fmt.Errorf("auth: random secret: %w", err)
	}
	t := Token{ID: hex.EncodeToString(idRaw), Subject: subject, Roles: roles, CreatedAt: s.now().UTC()}
	if ttl > 0 {
		t.ExpiresAt = t.CreatedAt.Add(ttl)
	}
	token := prefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(secretRaw)
	hash := sha256.Sum256([]byte(token))
	_, err := s.pool.Exec(ctx,
		`INSERT INTO auth_tokens (token_id, secret_hash, subject, roles, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, hash[:], t.Subject, roleStrings(roles), t.CreatedAt, nullTime(t.ExpiresAt))
	if err != nil {
		return "", Token{}, fmt.Errorf("auth: store token: %w", err)
	}
	return token, t, nil
}

// Authenticate returns the principal of an active token, or
// ErrUnauthenticated. Other errors are the database's.
func (s *Store) Authenticate(ctx context.Context, token string) (domain.Principal, error) {
	t, err := s.Check(ctx, token)
	if err != nil {
		return domain.Principal{}, err
	}
	return t.Principal(), nil
}

// Principal returns the principal the token stands for.
func (t Token) Principal() domain.Principal {
	return domain.Principal{Subject: t.Subject, Roles: t.Roles}
}

// List returns every token, newest first.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	rows, err := s.pool.Query(ctx, selectTokens+` ORDER BY created_at DESC, token_id`)
	if err != nil {
		return nil, fmt.Errorf("auth: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var hash []byte
		if err := s.scanOne(rows, &t, &hash); err != nil {
			return nil, fmt.Errorf("auth: list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: list tokens: %w", err)
	}
	return out, nil
}

// Revoke revokes the token with id at once. Revoking a revoked token keeps
// its first revocation time.
func (s *Store) Revoke(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE auth_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE token_id = $1`, id, s.now().UTC())
	if err != nil {
		return fmt.Errorf("auth: revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return nil
}

const selectTokens = `SELECT token_id, secret_hash, subject, roles, created_at, expires_at, revoked_at FROM auth_tokens`

func (s *Store) scanOne(row pgx.Row, t *Token, hash *[]byte) error {
	var (
		roles            []string
		expires, revoked *time.Time
	)
	if err := row.Scan(&t.ID, hash, &t.Subject, &roles, &t.CreatedAt, &expires, &revoked); err != nil {
		return err
	}
	t.Roles = make([]domain.Role, len(roles))
	for i, r := range roles {
		t.Roles[i] = domain.Role(r)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if expires != nil {
		t.ExpiresAt = expires.UTC()
	}
	if revoked != nil {
		t.RevokedAt = revoked.UTC()
	}
	return nil
}

// tokenID returns the id part of a well-formed token.
func tokenID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || len(secret) != base64.RawURLEncoding.EncodedLen(secretBits/8) {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header
// value; ok is false when the value is not of that form.
func BearerToken(header string) (token string, ok bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func roleStrings(roles []domain.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
