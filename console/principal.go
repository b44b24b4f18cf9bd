package console

import (
	"errors"
	"net/http"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
)

// Principal returns the principal of the console session r carries in its
// cookie, or an error matching auth.ErrUnauthenticated when it carries none
// that is open. Other handlers of the same site (the papers' downloads) use
// it to let a signed-in user fetch what the user's roles allow; they must
// only serve safe methods with it, since it checks no CSRF token.
func (c *Console) Principal(r *http.Request) (domain.Principal, error) {
	var value string
	if ck, err := r.Cookie(sessionCookie); err == nil {
		value = ck.Value
	}
	s, err := c.sessions.lookup(r.Context(), value)
	if errors.Is(err, errNoSession) {
		return domain.Principal{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return domain.Principal{}, err
	}
	return s.principal, nil
}
