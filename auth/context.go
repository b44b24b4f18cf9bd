package auth

import (
	"context"

	"github.com/riskreg/riskreg/domain"
)

type principalKey struct{}

// WithPrincipal returns a context that carries p as the authenticated caller.
func WithPrincipal(ctx context.Context, p domain.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller that ctx carries; ok is
// false when there is none.
func PrincipalFrom(ctx context.Context) (p domain.Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(domain.Principal)
	return p, ok
}
