package graph

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// explorerFiles are GraphiQL (vendored from npm: graphiql 3.8.3 and its UMD
// dependencies react and react-dom 18.3.1, each with its licence) and the
// page that starts it.
//
//go:embed explorer
var explorerFiles embed.FS

// explorerPath is where the explorer's files are served, below /graphql.
const explorerPath = "/graphql/explorer/"

// explorerCSP allows what GraphiQL needs: its own scripts and styles (it
// sets inline styles and compiles its editor's workers), and requests to
// the API on the same origin.
const explorerCSP = "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-ancestors 'none'"

// withExplorer serves the GraphQL explorer to browsers when introspection
// is on: GET /graphql asking for HTML, and its files below
// /graphql/explorer/. Everything else goes to next. The explorer's page
// holds no data; its queries carry the token typed into it.
func withExplorer(enabled bool, next http.Handler) http.Handler {
	if !enabled {
		return next
	}
	sub, err := fs.Sub(explorerFiles, "explorer")
	if err != nil {
		panic(err) // the embedded directory exists: go:embed checked it
	}
	files := http.StripPrefix(explorerPath, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, explorerPath):
			w.Header().Set("Content-Security-Policy", explorerCSP)
			files.ServeHTTP(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/graphql" && r.URL.RawQuery == "" &&
			r.Header.Get("Upgrade") == "" && acceptsHTML(r):
			w.Header().Set("Content-Security-Policy", explorerCSP)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.ServeFileFS(w, r, sub, "explorer.html")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// acceptsHTML reports whether the request's Accept header names text/html,
// as a browser's navigation does.
func acceptsHTML(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mediaType, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mediaType), "text/html") {
			return true
		}
	}
	return false
}
