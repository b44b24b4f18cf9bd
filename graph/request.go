package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// checkRequest answers the HTTP requests that cannot reach GraphQL in
// GraphQL's shape, with extensions.code BAD_USER_INPUT and the request id,
// and never with any part of the request: a POST body that is not one JSON
// object of the GraphQL-over-HTTP shape (400), a batch (400), another
// content type (415), another method (405). It also refuses strings that
// are not valid UTF-8, or hold a lone UTF-16 surrogate escape, anywhere in
// the request (400, naming the field), since decoding would turn them into
// U+FFFD silently. Websocket upgrades pass untouched.
func (s *Server) checkRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		fail := func(status int, msg string) {
			writeError(w, status, CodeBadUserInput, msg, RequestID(r.Context()))
		}
		switch r.Method {
		case http.MethodOptions:
		case http.MethodGet:
			params := r.URL.Query()
			if err := checkGET(params); err != nil {
				fail(http.StatusBadRequest, err.Error())
				return
			}
			if !s.readOnly(params) {
				w.Header().Set("Allow", "POST")
				fail(http.StatusMethodNotAllowed, "GET runs queries only: send mutations and subscriptions with POST")
				return
			}
		case http.MethodPost:
			media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || media != "application/json" {
				fail(http.StatusUnsupportedMediaType, "send the request as Content-Type: application/json")
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
					fail(http.StatusRequestEntityTooLarge, "the request body is over the size limit")
				} else {
					fail(http.StatusBadRequest, "the request body could not be read")
				}
				return
			}
			if err := checkBody(body); err != nil {
				fail(http.StatusBadRequest, err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			fail(http.StatusMethodNotAllowed, "use POST (or GET for queries)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestBody is the shape of a GraphQL-over-HTTP request, with the types
// the transport decodes it into.
type requestBody struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// checkBody checks that body is one JSON object of the request's shape
// whose strings are all valid.
func checkBody(body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return errors.New(`the request body is empty: send a JSON object {"query": ...}`)
	case trimmed[0] == '[':
		return errors.New("batched requests are not supported: send one operation per request")
	case trimmed[0] != '{':
		return errors.New(`the request body must be a JSON object {"query": ...}`)
	case !json.Valid(body):
		return errors.New("the request body is not valid JSON")
	}
	var req requestBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // as the transport decodes it
	if err := dec.Decode(&req); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return fmt.Errorf("%s must be %s", te.Field, jsonKind(te.Type))
		}
		return errors.New(`the request body is not of the shape {"query": "...", "operationName": "...", "variables": {...}}`)
	}
	return checkStrings(body)
}

// jsonKind names the JSON kind a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "of another type"
	}
}

// checkGET checks the strings of a GET request's parameters.
func checkGET(params url.Values) error {
	for _, name := range []string{"query", "operationName"} {
		if v := params.Get(name); !utf8.ValidString(v) {
			return fmt.Errorf("%s is not valid UTF-8", name)
		}
	}
	for _, name := range []string{"variables", "extensions"} {
		v := strings.TrimSpace(params.Get(name))
		if v == "" {
			continue
		}
		if !strings.HasPrefix(v, "{") || !json.Valid([]byte(v)) {
			return fmt.Errorf("%s must be a JSON object", name)
		}
		if err := walkStrings([]byte(v), name); err != nil {
			return err
		}
	}
	return nil
}

// readOnly reports whether the operation a GET request names is a query;
// a query that does not parse is left to GraphQL to answer.
func (s *Server) readOnly(params url.Values) bool {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Get("query")}, s.cfg.ParserTokenLimit)
	if err != nil {
		return true
	}
	name := params.Get("operationName")
	for _, op := range doc.Operations {
		if (name == "" || op.Name == name) && op.Operation != ast.Query {
			return false
		}
	}
	return true
}

// checkStrings checks every string of the valid JSON document doc, keys and
// values, and names the first bad one by its path.
func checkStrings(doc []byte) error {
	return walkStrings(doc, "")
}

// walkStrings checks the strings of the valid JSON value doc found at path.
func walkStrings(doc []byte, path string) error {
	w := &stringWalker{doc: doc}
	return w.value(path)
}

// stringWalker walks a valid JSON document byte by byte.
type stringWalker struct {
	doc []byte
	i   int
}

func (w *stringWalker) space() {
	for w.i < len(w.doc) && strings.IndexByte(" \t\r\n", w.doc[w.i]) >= 0 {
		w.i++
	}
}

func (w *stringWalker) value(path string) error {
	w.space()
	switch w.doc[w.i] {
	case '{':
		w.i++
		for {
			w.space()
			if w.doc[w.i] == '}' {
				w.i++
				return nil
			}
			if w.doc[w.i] == ',' {
				w.i++
				w.space()
			}
			key, err := w.str(path)
			if err != nil {
				return err
			}
			w.space()
			w.i++ // ':'
			if err := w.value(join(path, key)); err != nil {
				return err
			}
		}
	case '[':
		w.i++
		for n := 0; ; n++ {
			w.space()
			if w.doc[w.i] == ']' {
				w.i++
				return nil
			}
			if w.doc[w.i] == ',' {
				w.i++
			}
			if err := w.value(path + "[" + strconv.Itoa(n) + "]"); err != nil {
				return err
			}
		}
	case '"':
		_, err := w.str(path)
		return err
	default:
		for w.i < len(w.doc) && strings.IndexByte(",}] \t\r\n", w.doc[w.i]) < 0 {
			w.i++
		}
		return nil
	}
}

// str reads the string at w.i and checks its source: valid UTF-8 and no
// lone surrogate escape. It returns the string's source, for a key's path.
func (w *stringWalker) str(path string) (string, error) {
	start := w.i + 1
	w.i++
	for w.doc[w.i] != '"' {
		if w.doc[w.i] == '\\' {
			w.i++
		}
		w.i++
	}
	src := w.doc[start:w.i]
	w.i++
	name := path
	if name == "" {
		name = "the request body"
	}
	if !utf8.Valid(src) {
		return "", fmt.Errorf("%s: the string is not valid UTF-8", name)
	}
	if bad, ok := loneSurrogate(string(src)); ok {
		return "", fmt.Errorf("%s: the string has a lone UTF-16 surrogate escape %s, which is no character", name, bad)
	}
	return string(src), nil
}

// join appends a key to a JSON path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
