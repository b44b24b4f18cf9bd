package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
)

// internalMessage is what a user sees of a failure that is not theirs.
const internalMessage = "Something went wrong on the server. Nothing was recorded by the failed step; try again, and tell an administrator if it goes on."

// pageNames are the pages, each templates/<name>.html inside the layout.
var pageNames = []string{"login", "error", "register", "heatmap", "risk", "newrisk", "decisions", "decision", "newdecision", "responses", "integrity"}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"date": func(d domain.Date) string {
		if d.IsZero() {
			return ""
		}
		return d.String()
	},
	"lower": func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
	"label": func(s any) string { return strings.ReplaceAll(strings.ToLower(fmt.Sprint(s)), "_", " ") },
	"rating": func(r *projection.Rating) string {
		if r == nil {
			return "—"
		}
		return fmt.Sprintf("%d (%d×%d)", r.Score(), r.Likelihood, r.Impact)
	},
	"scale": func() []int { return []int{1, 2, 3, 4, 5} },
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
}

// parsePages parses every page with the layout.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(files, "templates/"+name+".html"))
	}
	return pages
}

// view is what every page's template gets.
type view struct {
	Title string // the page's h1 and title
	Nav   string // the navigation entry to mark as current
	User  *domain.Principal
	CSRF  string
	// Idem is a fresh idempotency key for the page's forms: a form sent
	// twice records once.
	Idem    string
	Notice  string   // a confirmation, e.g. after a form
	Problem string   // an error in words
	Fields  []string // the form's invalid fields, in words
	Data    any
}

// render writes page name with status (200 when 0).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	if s, ok := sessionOf(r); ok {
		v.User, v.CSRF = &s.principal, s.csrf
	}
	v.Idem = randomString(16)
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, v); err != nil {
		c.opt.Logger.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
		http.Error(w, internalMessage, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = buf.WriteTo(w)
}

// fail shows an error page. With err set, status and message come from
// explain(err) unless given; errors that are not the user's are logged and
// shown only as internalMessage.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error, status int, message string) {
	var fields []string
	if err != nil {
		st, msg, fs := c.explain(r, err)
		if status == 0 {
			status = st
		}
		if message == "" {
			message = msg
		}
		fields = fs
	}
	c.render(w, r, status, "error", view{Title: http.StatusText(status), Problem: message, Fields: fields})
}

// explain turns an error into a status and words for the user; an error
// that is not about the user's input or rights is logged.
func (c *Console) explain(r *http.Request, err error) (int, string, []string) {
	var (
		validation *domain.ValidationError
		stale      *domain.StaleError
		notFound   *domain.NotFoundError
		forbidden  *domain.ForbiddenError
		pre        *domain.PreconditionError
	)
	switch {
	case errors.As(err, &validation):
		fields := make([]string, len(validation.Fields))
		for i, f := range validation.Fields {
			fields[i] = fieldName(f.Field) + " " + f.Message
		}
		return http.StatusUnprocessableEntity, "Nothing was recorded: some fields need attention.", fields
	case errors.As(err, &stale):
		return http.StatusConflict, fmt.Sprintf("Nothing was recorded: this item changed since the form was opened "+
			"(the form was for version %d; it is now at version %d). Its current state is shown; check it and submit again.",
			stale.Expected, stale.Current), nil
	case errors.As(err, &notFound):
		return http.StatusNotFound, "There is no such " + label(notFound.Kind) + ".", nil
	case errors.As(err, &forbidden):
		return http.StatusForbidden, "Your role does not allow this. Nothing was recorded.", nil
	case errors.As(err, &pre):
		return http.StatusConflict, "Nothing was recorded: " + pre.Reason + ".", nil
	case errors.Is(err, projection.ErrInvalidInput):
		return http.StatusBadRequest, "The page's address has a value this list does not understand; start again from the menu.", nil
	case errors.Is(err, r.Context().Err()):
		return http.StatusServiceUnavailable, "The request was cancelled or took too long.", nil
	}
	c.opt.Logger.ErrorContext(r.Context(), "console", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, internalMessage, nil
}

// fieldName turns an input field's API name into words.
func fieldName(f string) string {
	var b strings.Builder
	for i, c := range f {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

func label(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", " ") }

// query is a page's URL query, to build links that keep the page's state.
type query url.Values

// With returns the query with key set to value ("" removes it), as a
// "?..." string.
func (q query) With(kv ...string) template.URL {
	v := url.Values{}
	for k, vs := range q {
		v[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return "?"
	}
	return template.URL("?" + v.Encode())
}

// Get returns the query's value of key.
func (q query) Get(key string) string { return url.Values(q).Get(key) }

// parseTime reads a date-time control's value (UTC): "2006-01-02T15:04",
// with seconds, or RFC 3339. "" is the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time", s)
}

// formTime is the value of a date-time control for t.
func formTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

// intParam reads an integer form or query value, def when empty.
func intParam(s string, def int) (int, error) {
	if strings.TrimSpace(s) == "" {
		return def, nil
	}
	return strconv.Atoi(strings.TrimSpace(s))
}
