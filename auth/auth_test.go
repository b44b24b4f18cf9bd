package auth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// lookupCounter counts the statements that read auth_tokens.
type lookupCounter struct{ n atomic.Int64 }

func (c *lookupCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(data.SQL, "SELECT") && strings.Contains(data.SQL, "FROM auth_tokens") {
		c.n.Add(1)
	}
	return ctx
}

func (c *lookupCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// newStore returns a token store on a fresh database, on clock now, whose
// look-up queries are counted.
func newStore(t *testing.T, now func() time.Time) (*auth.Store, *lookupCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &lookupCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return auth.NewStore(pool, now), counter
}

// Concurrent calls are answered each for its own token, valid, revoked,
// unknown or forged alike, and their look-ups share queries.
func TestConcurrentAuthenticate(t *testing.T) {
	ctx := context.Background()
	store, queries := newStore(t, time.Now)
	type issued struct {
		token, subject string
		revoked        bool
	}
	var tokens []issued
	for i := range 8 {
		subject := fmt.Sprintf("user-%d", i)
		tok, info, err := store.Create(ctx, subject, []domain.Role{domain.RoleStaff}, 0)
		if err != nil {
			t.Fatal(err)
		}
		revoked := i%3 == 0
		if revoked {
			if err := store.Revoke(ctx, info.ID); err != nil {
				t.Fatal(err)
			}
		}
		tokens = append(tokens, issued{tok, subject, revoked})
	}
	unknown := "rr_0123456789abcdef_" + strings.Repeat("A", 43)
	forged := tokens[1].token[:len(tokens[1].token)-4] + "AAAA"

	const calls = 400
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			<-start
			switch k := rand.IntN(len(tokens) + 2); {
			case k < len(tokens):
				p, err := store.Authenticate(ctx, tokens[k].token)
				switch {
				case tokens[k].revoked && !errors.Is(err, auth.ErrUnauthenticated):
					errs <- fmt.Errorf("call %d, revoked token of %s: %v, %v", i, tokens[k].subject, p, err)
				case !tokens[k].revoked && (err != nil || p.Subject != tokens[k].subject):
					errs <- fmt.Errorf("call %d, token of %s: %+v, %v", i, tokens[k].subject, p, err)
				}
			case k == len(tokens):
				if _, err := store.Authenticate(ctx, unknown); !errors.Is(err, auth.ErrUnauthenticated) {
					errs <- fmt.Errorf("call %d, unknown token: %v", i, err)
				}
			default:
				if _, err := store.Authenticate(ctx, forged); !errors.Is(err, auth.ErrUnauthenticated) {
					errs <- fmt.Errorf("call %d, forged token: %v", i, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := queries.n.Load(); n >= calls/2 {
		t.Errorf("%d concurrent calls took %d queries; want them gathered into fewer than %d", calls, n, calls/2)
	}
}

// A revocation or an expiry takes effect for the very next call.
func TestRevocationAndExpiryAtOnce(t *testing.T) {
	ctx := context.Background()
	// The store's time in Unix nanoseconds, on a whole microsecond, since
	// PostgreSQL keeps microseconds.
	var clock atomic.Int64
	clock.Store(time.Now().Truncate(time.Microsecond).UnixNano())
	store, _ := newStore(t, func() time.Time { return time.Unix(0, clock.Load()) })
	tok, info, err := store.Create(ctx, "clerk", []domain.Role{domain.RoleAuditCommittee}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := store.Authenticate(ctx, tok); err != nil || p.Subject != "clerk" {
		t.Fatalf("fresh token: %+v, %v", p, err)
	}
	if err := store.Revoke(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("right after revocation: %v, want ErrUnauthenticated", err)
	}

	short, _, err := store.Create(ctx, "auditor", []domain.Role{domain.RoleAuditor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(time.Hour - time.Nanosecond))
	if _, err := store.Authenticate(ctx, short); err != nil {
		t.Fatalf("a nanosecond before expiry: %v", err)
	}
	clock.Add(int64(time.Nanosecond))
	if _, err := store.Authenticate(ctx, short); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("at expiry: %v, want ErrUnauthenticated", err)
	}
}
