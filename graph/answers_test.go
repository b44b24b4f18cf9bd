package graph_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph"
)

// raw sends body with contentType ("" for none) and method to the API with
// token.
func (e *env) raw(t *testing.T, method, token, contentType string, body []byte) (result, string) {
	t.Helper()
	if contentType == "" {
		return e.request(t, method, "", token, body)
	}
	return e.request(t, method, "", token, body, "Content-Type", contentType)
}

// TestMalformedRequestsAnswerWithACode: requests that never reach GraphQL
// (malformed JSON, a batch, other content types, other methods) answer in
// GraphQL's shape with extensions.code BAD_USER_INPUT and never echo the
// body.
func TestMalformedRequestsAnswerWithACode(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "sam", staffRole)
	const secret = "SECRET-BODY-MARKER"
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("operations", `{"query":"{ me { subject } }", "x":"`+secret+`"}`)
	_ = mw.Close()
	for _, c := range []struct {
		name, method, contentType, body string
		status                          int
	}{
		{"malformed JSON", http.MethodPost, "application/json", `{"query": "{ me { subject } }", "` + secret, http.StatusBadRequest},
		{"trailing garbage", http.MethodPost, "application/json", `{"query": "{ me { subject } }"} ` + secret, http.StatusBadRequest},
		{"batched array", http.MethodPost, "application/json", `[{"query": "{ me { subject } }"}, {"query": "` + secret + `"}]`, http.StatusBadRequest},
		{"query of the wrong type", http.MethodPost, "application/json", `{"query": 5, "operationName": "` + secret + `"}`, http.StatusBadRequest},
		{"empty body", http.MethodPost, "application/json", ``, http.StatusBadRequest},
		{"text/plain", http.MethodPost, "text/plain", `{"query": "{ me { subject } }", "x": "` + secret + `"}`, http.StatusUnsupportedMediaType},
		{"form", http.MethodPost, "application/x-www-form-urlencoded", "query=" + url.QueryEscape("{ me { subject } }") + "&x=" + secret, http.StatusUnsupportedMediaType},
		{"multipart", http.MethodPost, mw.FormDataContentType(), form.String(), http.StatusUnsupportedMediaType},
		{"no content type", http.MethodPost, "", `{"query": "` + secret + `"}`, http.StatusUnsupportedMediaType},
		{"PUT", http.MethodPut, "application/json", `{"query": "` + secret + `"}`, http.StatusMethodNotAllowed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, body := e.raw(t, c.method, tok, c.contentType, []byte(c.body))
			if r.Status != c.status || r.code() != graph.CodeBadUserInput || len(r.Errors) != 1 || r.Errors[0].Message == "" {
				t.Errorf("answer %d %s, want %d with one error of code %s", r.Status, body, c.status, graph.CodeBadUserInput)
			}
			if strings.Contains(body, secret) || strings.Contains(body, "me { subject }") {
				t.Errorf("the answer echoes the request: %s", body)
			}
			if len(r.Errors) == 0 {
				return
			}
			if id, _ := r.Errors[0].Extensions["requestId"].(string); id == "" || id != r.Header.Get("X-Request-ID") {
				t.Errorf("answer %s: want the request id %q in extensions.requestId", body, r.Header.Get("X-Request-ID"))
			}
		})
	}
	// A well-formed request still works after all that.
	var me struct{ Me struct{ Subject string } }
	e.must(t, tok, `{ me { subject } }`, nil, &me)
}

// TestFirstOverTheMaximumIsBadInput: `first` over 500 on any connection is
// BAD_USER_INPUT naming the argument, checked before the complexity limit,
// inline or through a variable, also nested.
func TestFirstOverTheMaximumIsBadInput(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "aud", domain.RoleAuditor)
	for name, c := range map[string]struct {
		query string
		vars  vars
	}{
		"inline":       {`{ events(first: 100000000) { edges { cursor } } }`, nil},
		"just over":    {`{ risks(first: 501) { totalCount } }`, nil},
		"variable":     {`query($n: Int) { decisions(first: $n) { totalCount } }`, vars{"n": 100000000}},
		"nested":       {`{ risks(first: 10) { edges { node { history(first: 100000000) { edges { cursor } } } } } }`, nil},
		"in fragment":  {`{ ...F } fragment F on Query { events(first: 600) { edges { cursor } } }`, nil},
		"int overflow": {`{ events(first: 2147483647) { edges { cursor } } }`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.post(t, tok, c.query, c.vars)
			if r.code() != graph.CodeBadUserInput || !strings.Contains(r.Errors[0].Message, "first") || r.Status != http.StatusOK {
				t.Errorf("answer %d %+v, want %s naming first", r.Status, r.Errors, graph.CodeBadUserInput)
			}
		})
	}
	// 500 itself is fine.
	if r := e.post(t, tok, `{ events(first: 500) { edges { cursor } } }`, nil); len(r.Errors) > 0 {
		t.Errorf("first: 500: %+v", r.Errors)
	}
}

// TestBadStringsAreRefused: invalid UTF-8 and lone surrogates, in variables
// or in the query's literals, are refused as BAD_USER_INPUT naming the field;
// nothing is stored.
func TestBadStringsAreRefused(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "sam", staffRole)
	input := func(title string) string {
		return `{"query": "mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }", "variables": {"in": {"title": ` + title +
			`, "description": "d", "category": "Operational", "source": "Audit Plan", "owner": "Director"}}}`
	}
	inline := func(title string) string {
		return `{"query": "mutation { registerRisk(input: {title: \"` + title +
			`\", description: \"d\", category: \"Operational\", source: \"Audit Plan\", owner: \"Director\"}) { id } }"}`
	}
	for name, c := range map[string]struct {
		body, field string
	}{
		"invalid UTF-8 in a variable":          {input("\"Bad \xff\xfe bytes\""), "title"},
		"lone high surrogate in a variable":    {input(`"Lone \ud800 surrogate"`), "title"},
		"lone low surrogate in a variable":     {input(`"Lone \udc00 surrogate"`), "title"},
		"reversed surrogates in a variable":    {input(`"Pair \udc00\ud800 reversed"`), "title"},
		"lone surrogate in a literal":          {inline(`Lone \\ud800 surrogate`), "title"},
		"invalid UTF-8 in the query":           {inline("Bad \xff bytes"), "query"},
		"lone surrogate in an operation name":  {`{"query": "query Q { me { subject } }", "operationName": "Q\ud800"}`, "operationName"},
		"invalid UTF-8 in a nested list value": {`{"query": "query($t: [String!]) { events(types: $t) { edges { cursor } } }", "variables": {"t": ["ok", "bad ` + "\xc3" + `"]}}`, "variables.t[1]"},
	} {
		t.Run(name, func(t *testing.T) {
			r, body := e.raw(t, http.MethodPost, tok, "application/json", []byte(c.body))
			if r.code() != graph.CodeBadUserInput || !strings.Contains(r.Errors[0].Message, c.field) || strings.Contains(body, "\ufffd") {
				t.Errorf("answer %d %s, want %s naming %s", r.Status, body, graph.CodeBadUserInput, c.field)
			}
		})
	}
	// A proper surrogate pair and non-ASCII text pass and are stored as sent.
	r, body := e.raw(t, http.MethodPost, tok, "application/json", []byte(input(`"Pair \ud83d\ude00 and Ünïcödé"`)))
	var out struct{ RegisterRisk struct{ ID string } }
	r.decode(t, &out)
	var got struct{ Risk struct{ Title string } }
	e.must(t, tok, `query($id: ID!) { risk(id: $id) { title } }`, vars{"id": out.RegisterRisk.ID}, &got)
	if got.Risk.Title != "Pair 😀 and Ünïcödé" {
		t.Errorf("stored title %q from %s", got.Risk.Title, body)
	}
	var log struct {
		Events struct{ Edges []struct{ Cursor string } }
	}
	e.must(t, tok, `{ events(types: ["RiskRegistered"]) { edges { cursor } } }`, nil, &log)
	if n := len(log.Events.Edges); n != 1 {
		t.Errorf("%d risks registered, want only the valid one", n)
	}
}

// TestClientErrorsAreNotInternal: an enum value of the wrong case through a
// variable, and introspection while it is off, are the client's errors:
// BAD_USER_INPUT and GRAPHQL_VALIDATION_FAILED, logged below ERROR.
func TestClientErrorsAreNotInternal(t *testing.T) {
	e := newEnv(t, func(o *graph.Options) { o.DisableIntrospection = true })
	tok := e.token(t, "aud", domain.RoleAuditor)
	for name, c := range map[string]struct {
		query string
		vars  vars
		code  string
	}{
		"enum of the wrong case":   {`query($b: Band) { risks(filter: {band: $b}) { totalCount } }`, vars{"b": "red"}, "GRAPHQL_VALIDATION_FAILED"},
		"unknown enum value":       {`query($k: RatingKind) { heatMap(ratingKind: $k) { cells { count } } }`, vars{"k": "SIDEWAYS"}, "GRAPHQL_VALIDATION_FAILED"},
		"enum of the wrong type":   {`query($b: Band) { risks(filter: {band: $b}) { totalCount } }`, vars{"b": 3}, "GRAPHQL_VALIDATION_FAILED"},
		"status of the wrong case": {`query($f: RiskFilter) { risks(filter: $f) { totalCount } }`, vars{"f": map[string]any{"status": "Open"}}, "GRAPHQL_VALIDATION_FAILED"},
		"__schema":                 {`{ __schema { types { name } } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		"__type":                   {`{ __type(name: "Risk") { name } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		"introspection in a frag":  {`{ ...F } fragment F on Query { __schema { queryType { name } } }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		"full introspection":       {introspectionQuery, nil, "GRAPHQL_VALIDATION_FAILED"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.post(t, tok, c.query, c.vars)
			if r.code() != c.code {
				t.Errorf("answer %d %+v, want %s", r.Status, r.Errors, c.code)
			}
		})
	}
	// __typename is not introspection.
	if r := e.post(t, tok, `{ __typename }`, nil); len(r.Errors) > 0 {
		t.Errorf("__typename: %+v", r.Errors)
	}
	if logs := e.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("client errors logged at ERROR:\n%s", logs)
	}
}

// TestGETAnswersWithACode: GET requests that cannot run answer with a code
// too: variables that are not JSON, a mutation, no query.
func TestGETAnswersWithACode(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "sam", staffRole)
	for name, params := range map[string]url.Values{
		"variables not JSON":  {"query": {`query($n: Int) { events(first: $n) { edges { cursor } } }`}, "variables": {`{"n": SECRET`}},
		"extensions not JSON": {"query": {`{ me { subject } }`}, "extensions": {`SECRET`}},
		"mutation":            {"query": {`mutation { registerRisk(input: {title: "SECRET", description: "d", category: "c", source: "s", owner: "o"}) { id } }`}},
		"no query":            {},
		"bad UTF-8 variable":  {"query": {`query($t: [String!]) { events(types: $t) { edges { cursor } } }`}, "variables": {"{\"t\": [\"\xff SECRET\"]}"}},
	} {
		t.Run(name, func(t *testing.T) {
			r, b := e.request(t, http.MethodGet, params.Encode(), tok, nil)
			if r.code() == "" || r.Status < 400 || strings.Contains(b, "SECRET") {
				t.Errorf("answer %d %s, want a 4xx with a code that does not echo the request", r.Status, b)
			}
		})
	}
}
