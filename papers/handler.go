package papers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
)

// Authenticate returns the principal a request is made by, or an error
// matching auth.ErrUnauthenticated. The console may pass one that knows its
// cookie session as well as bearer tokens.
type Authenticate func(*http.Request) (domain.Principal, error)

// Bearer authenticates requests by their bearer token with tokens (an
// *auth.Store).
func Bearer(tokens interface {
	Authenticate(ctx context.Context, token string) (domain.Principal, error)
},
) Authenticate {
	return func(r *http.Request) (domain.Principal, error) {
		tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			return domain.Principal{}, auth.ErrUnauthenticated
		}
		return tokens.Authenticate(r.Context(), tok)
	}
}

// Either authenticates a request with a bearer token by bearer when it
// sends an Authorization header, else by session (the console's cookie
// session): a client that sends a token is held to it.
func Either(bearer, session Authenticate) Authenticate {
	return func(r *http.Request) (domain.Principal, error) {
		if r.Header.Get("Authorization") != "" {
			return bearer(r)
		}
		return session(r)
	}
}

// MaxBuilding is how many papers a handler builds at once; further requests
// wait for a turn (or until they are cancelled).
const MaxBuilding = 2

// NewHandler serves GET /papers/{sessionId}.{xlsx|pdf|csv} (mount it at
// "GET /papers/{file}"): the session's paper, to staff, the clerks of the
// bodies and auditors.
func NewHandler(b *Builder, authenticate Authenticate, logger *slog.Logger) http.Handler {
	turns := make(chan struct{}, MaxBuilding)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authenticate(r)
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="riskreg"`)
			http.Error(w, "unauthenticated: send a bearer token or sign in to the console", http.StatusUnauthorized)
			return
		case err != nil:
			logger.Error("papers: authenticate", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if err := p.AuthorizePapers(); err != nil {
			http.Error(w, "forbidden: papers are for staff, the clerks of the bodies and auditors", http.StatusForbidden)
			return
		}
		id, ext, ok := strings.Cut(r.PathValue("file"), ".")
		format, ferr := ParseFormat(ext)
		if !ok || id == "" || ferr != nil {
			http.Error(w, "not found: ask for /papers/{sessionId}.xlsx, .pdf or .csv", http.StatusNotFound)
			return
		}
		select {
		case turns <- struct{}{}:
			defer func() { <-turns }()
		case <-r.Context().Done():
			http.Error(w, "busy: try again", http.StatusServiceUnavailable)
			return
		}
		paper, err := b.Build(r.Context(), id)
		if errors.Is(err, ErrNoSession) {
			http.Error(w, "not found: no such session", http.StatusNotFound)
			return
		}
		var buf bytes.Buffer
		if err == nil {
			err = Render(&buf, paper, format)
		}
		if err != nil {
			if r.Context().Err() == nil {
				logger.Error("papers: build", "session", id, "err", err)
			}
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", format.ContentType())
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="paper-%s.%s"`, safeName(id), format))
		w.Header().Set("X-Log-Position", paper.Position)
		_, _ = w.Write(buf.Bytes())
	})
}

// safeName keeps the letters, digits and dashes of s.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
}
