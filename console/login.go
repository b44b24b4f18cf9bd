package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/riskreg/riskreg/auth"
)

// loginData is the sign-in page's data.
type loginData struct {
	Next      string
	LoginCSRF string
}

// loginPage shows the sign-in form. Its CSRF token is kept in a cookie of
// its own until a session exists.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	token := ""
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) >= 32 {
		token = ck.Value
	} else {
		token = randomString(32)
		setCookie(w, r, loginCookie, token, 3600)
	}
	v := view{Title: "Sign in", Data: loginData{Next: safeNext(r.URL.Query().Get("next")), LoginCSRF: token}}
	if r.URL.Query().Get("done") == "signedout" {
		v.Notice = "You are signed out."
	}
	c.render(w, r, 0, "login", v)
}

// login checks the token like the API does and opens a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		c.fail(w, r, nil, http.StatusForbidden, "The sign-in form has expired or did not come from this console. Open the sign-in page again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	t, err := c.opt.Tokens.Check(r.Context(), strings.TrimSpace(r.PostForm.Get("token")))
	if errors.Is(err, auth.ErrUnauthenticated) {
		c.render(w, r, http.StatusUnauthorized, "login", view{Title: "Sign in",
			Problem: "That token is not valid: it is unknown, expired or revoked.",
			Data:    loginData{Next: next, LoginCSRF: ck.Value}})
		return
	}
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	value, err := c.sessions.create(r.Context(), t)
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	maxAge := 0
	if !t.ExpiresAt.IsZero() {
		maxAge = max(1, int(time.Until(t.ExpiresAt).Seconds()))
	}
	setCookie(w, r, sessionCookie, value, maxAge)
	setCookie(w, r, loginCookie, "", -1)
	c.opt.Logger.InfoContext(r.Context(), "console: signed in", "principal", t.Subject, "token_id", t.ID)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s session) {
	if err := c.sessions.end(r.Context(), s); err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login?done=signedout", http.StatusSeeOther)
}

// safeNext returns where to go after signing in: a path of this site, "/"
// for anything else.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}
