package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/graph"

	"github.com/riskreg/riskreg/domain"
)

// roles of the tests' principals.
var (
	staffRole   = domain.RoleStaff
	acRole      = domain.RoleAuditCommittee
	pcRole      = domain.RolePolicyCommission
	councilRole = domain.RoleCouncil
)

type decisionOut struct {
	ID         string
	Kind       string
	Body       string
	RecordedBy string
	Subjects   []struct {
		ID          string
		Kind        string
		VersionSeen int
	}
	Effects []struct {
		Type        string
		StreamID    string
		DecisionID  string
		CausationID string
		Actor       string
	}
}

func decided(t *testing.T, r result) decisionOut {
	t.Helper()
	var out struct{ RecordDecision decisionOut }
	r.decode(t, &out)
	return out.RecordDecision
}

// TestGovernanceLifecycle drives the whole cycle over HTTP: risk ->
// assessment RED -> response -> PC recommend -> Council endorse -> start ->
// implement -> AC verify -> close, then a Council CLOSE_RISK.
func TestGovernanceLifecycle(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	ac := e.token(t, "ada", acRole)
	pc := e.token(t, "pia", pcRole)
	council := e.token(t, "cal", councilRole)

	risk := e.registerRisk(t, staff, "Loss of key data")
	if risk.Reference != "R-0001" || risk.Status != "OPEN" || risk.Version != 1 {
		t.Fatalf("registered %+v", risk)
	}
	risk = e.assess(t, staff, risk.ID, 1, 5, 4)
	if risk.Status != "ASSESSED" || risk.Band == nil || *risk.Band != "RED" || risk.Inherent.Score != 20 || risk.Inherent.AssessedBy != "sam" {
		t.Fatalf("assessed %+v", risk)
	}
	flag := decided(t, e.decide(t, ac, "AUDIT_COMMITTEE", "FLAG", risk.ID, 2))
	if len(flag.Effects) != 1 || flag.Effects[0].Type != "RiskFlagged" || flag.Effects[0].DecisionID != flag.ID || flag.Effects[0].Actor != "ada" {
		t.Errorf("FLAG effects %+v", flag.Effects)
	}

	resp := e.propose(t, staff, risk.ID)
	resp = e.transition(t, staff, "submitResponse", resp.ID, resp.Version)
	if resp.Status != "SUBMITTED" {
		t.Fatalf("submitted: %+v", resp)
	}
	decided(t, e.decide(t, pc, "POLICY_COMMISSION", "RECOMMEND", resp.ID, 2))
	endorse := decided(t, e.decide(t, council, "COUNCIL", "ENDORSE", resp.ID, 3))
	var types []string
	for _, eff := range endorse.Effects {
		types = append(types, eff.Type)
		if eff.DecisionID != endorse.ID || eff.CausationID == "" || eff.Actor != "cal" {
			t.Errorf("ENDORSE effect %+v: want decision id, causation id and actor", eff)
		}
	}
	if strings.Join(types, ",") != "ResponseEndorsed,RiskTreatmentStarted" {
		t.Errorf("ENDORSE effects %v", types)
	}
	resp = e.transition(t, staff, "startResponse", resp.ID, 4)
	resp = e.transition(t, staff, "reportImplementation", resp.ID, 5)
	decided(t, e.decide(t, ac, "AUDIT_COMMITTEE", "VERIFY", resp.ID, 6))
	resp = e.transition(t, staff, "closeResponse", resp.ID, 7)
	if resp.Status != "CLOSED" || resp.Version != 8 {
		t.Errorf("closed response %+v", resp)
	}

	var now struct {
		Risk struct {
			riskOut
			Responses []struct{ ID, Status string }
			Decisions []struct{ Kind string }
			History   struct {
				Edges []struct{ Node struct{ Type string } }
			}
		}
	}
	e.must(t, staff, `query($id: ID!) { risk(id: $id) { `+riskFields+` responses { id status } decisions { kind } history { edges { node { type } } } } }`,
		vars{"id": risk.ID}, &now)
	if now.Risk.Status != "MONITORING" || !now.Risk.Flagged || len(now.Risk.Responses) != 1 || now.Risk.Responses[0].Status != "CLOSED" {
		t.Errorf("risk after the cycle: %+v", now.Risk)
	}
	if len(now.Risk.Decisions) != 1 || now.Risk.Decisions[0].Kind != "FLAG" {
		t.Errorf("decisions naming the risk: %+v", now.Risk.Decisions)
	}
	if n := len(now.Risk.History.Edges); n != now.Risk.Version {
		t.Errorf("history has %d events, risk version %d", n, now.Risk.Version)
	}

	// Staff may not close a flagged RED risk; the Council may.
	r := e.post(t, staff, `mutation($in: RiskTransitionInput!) { closeRisk(input: $in) { id } }`,
		vars{"in": map[string]any{"id": risk.ID, "expectedVersion": now.Risk.Version, "reason": "done"}})
	if r.code() != "FAILED_PRECONDITION" {
		t.Errorf("staff closing a flagged RED risk: %+v", r.Errors)
	}
	decided(t, e.decide(t, council, "COUNCIL", "CLOSE_RISK", risk.ID, now.Risk.Version))

	// Decision.effects and events(decisionId:) trace the endorsement.
	var trace struct {
		Decision struct{ Effects []struct{ Type string } }
		Events   struct {
			Edges []struct {
				Node struct{ Type, DecisionID string }
			}
		}
	}
	e.must(t, staff, `query($id: ID!) { decision(id: $id) { effects { type } } events(decisionId: $id) { edges { node { type decisionId } } } }`,
		vars{"id": endorse.ID}, &trace)
	if len(trace.Decision.Effects) != 2 || len(trace.Events.Edges) != 3 || trace.Events.Edges[0].Node.Type != "DecisionRecorded" {
		t.Errorf("trace of the endorsement: %+v", trace)
	}

	var integrity struct {
		Integrity struct {
			Ok            bool
			CheckedEvents int
		}
	}
	e.must(t, e.token(t, "aud", domain.RoleAuditor), `{ integrity { ok checkedEvents } }`, nil, &integrity)
	if !integrity.Integrity.Ok || integrity.Integrity.CheckedEvents < 15 {
		t.Errorf("integrity %+v", integrity.Integrity)
	}
}

// TestResolversWithGqlgenClient runs resolvers through gqlgen's test client:
// me, node, and the request id that becomes the correlation id.
func TestResolversWithGqlgenClient(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "sam", staffRole, domain.RoleAuditor)
	c := client.New(e.api, client.AddHeader("Authorization", "Bearer "+tok))

	var me struct {
		Me struct {
			Subject string
			Roles   []string
		}
	}
	c.MustPost(`{ me { subject roles } }`, &me)
	if me.Me.Subject != "sam" || strings.Join(me.Me.Roles, ",") != "staff,auditor" {
		t.Errorf("me = %+v", me.Me)
	}

	var reg struct{ RegisterRisk struct{ ID string } }
	c.MustPost(`mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`, &reg,
		client.Var("in", riskInput("Via client")), client.AddHeader("X-Request-ID", "req-42"))
	var node struct {
		Node struct {
			Typename string `json:"__typename"`
			ID       string
			Title    string
			History  struct {
				Edges []struct {
					Node struct {
						CorrelationID, Actor, Hash, Position, RequestID string
					}
				}
			}
		}
	}
	c.MustPost(`query($id: ID!) { node(id: $id) { __typename id ... on Risk { title history { edges { node { correlationId actor hash position requestId } } } } } }`,
		&node, client.Var("id", reg.RegisterRisk.ID))
	if node.Node.Typename != "Risk" || node.Node.Title != "Via client" || len(node.Node.History.Edges) != 1 {
		t.Fatalf("node = %+v", node.Node)
	}
	ev := node.Node.History.Edges[0].Node
	if ev.CorrelationID != "req-42" || ev.RequestID != "req-42" || ev.Actor != "sam" || len(ev.Hash) != 64 || len(ev.Position) != 32 {
		t.Errorf("event envelope %+v: want correlation id req-42, actor sam, hex hash", ev)
	}

	var missing struct{ Node *struct{ ID string } }
	c.MustPost(`{ node(id: "no-such-id") { id } }`, &missing)
	if missing.Node != nil {
		t.Errorf("node of an unknown id = %+v, want null", missing.Node)
	}
}

// mutationCase is one mutation kind of the role matrix.
type mutationCase struct {
	name  string
	query string
	in    func(f fixture) map[string]any
	// allowed is the role that may run it beside staff and admin, or the
	// only role for decisions.
	decisionRole domain.Role
}

type fixture struct{ risk, response string }

func transitionCase(name string) mutationCase {
	return mutationCase{name: name, query: `mutation($in: ResponseTransitionInput!) { ` + name + `(input: $in) { id } }`,
		in: func(f fixture) map[string]any { return map[string]any{"id": f.response, "expectedVersion": 1} }}
}

func decisionCase(body string, role domain.Role) mutationCase {
	return mutationCase{name: "recordDecision:" + body, query: `mutation($in: RecordDecisionInput!) { recordDecision(input: $in) { id } }`,
		decisionRole: role,
		in: func(f fixture) map[string]any {
			return map[string]any{"body": body, "session": "S", "kind": "NOTE", "text": "noted",
				"subjects": []any{map[string]any{"id": f.risk, "expectedVersion": 1}}}
		}}
}

var mutationCases = []mutationCase{
	{name: "registerRisk", query: `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`,
		in: func(fixture) map[string]any { return riskInput("Matrix") }},
	{name: "updateRisk", query: `mutation($in: UpdateRiskInput!) { updateRisk(input: $in) { id } }`,
		in: func(f fixture) map[string]any {
			return map[string]any{"id": f.risk, "expectedVersion": 1, "title": "New"}
		}},
	{name: "assessRisk", query: `mutation($in: AssessRiskInput!) { assessRisk(input: $in) { id } }`,
		in: func(f fixture) map[string]any {
			return map[string]any{"id": f.risk, "expectedVersion": 1, "kind": "INHERENT", "likelihood": 2, "impact": 2, "rationale": "r"}
		}},
	{name: "closeRisk", query: `mutation($in: RiskTransitionInput!) { closeRisk(input: $in) { id } }`,
		in: func(f fixture) map[string]any {
			return map[string]any{"id": f.risk, "expectedVersion": 1, "reason": "r"}
		}},
	{name: "withdrawRisk", query: `mutation($in: RiskTransitionInput!) { withdrawRisk(input: $in) { id } }`,
		in: func(f fixture) map[string]any {
			return map[string]any{"id": f.risk, "expectedVersion": 1, "reason": "r"}
		}},
	{name: "proposeResponse", query: `mutation($in: ProposeResponseInput!) { proposeResponse(input: $in) { id } }`,
		in: func(f fixture) map[string]any {
			return map[string]any{"riskId": f.risk, "title": "T", "description": "", "option": "AVOID", "owner": "O"}
		}},
	{name: "reviseResponse", query: `mutation($in: ReviseResponseInput!) { reviseResponse(input: $in) { id } }`,
		in: func(f fixture) map[string]any {
			return map[string]any{"id": f.response, "expectedVersion": 1, "title": "T2"}
		}},
	transitionCase("submitResponse"),
	transitionCase("startResponse"),
	transitionCase("reportImplementation"),
	transitionCase("closeResponse"),
	transitionCase("withdrawResponse"),
	decisionCase("AUDIT_COMMITTEE", domain.RoleAuditCommittee),
	decisionCase("POLICY_COMMISSION", domain.RolePolicyCommission),
	decisionCase("COUNCIL", domain.RoleCouncil),
}

// TestRoleMatrix runs every mutation kind as every role: staff and admin run
// the register mutations, each body's role only its own decisions, auditor
// and integration nothing. An allowed call may still fail for another reason
// (a state or version), never with FORBIDDEN.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	roles := []domain.Role{domain.RoleStaff, domain.RoleAuditCommittee, domain.RolePolicyCommission, domain.RoleCouncil,
		domain.RoleAuditor, domain.RoleIntegration, domain.RoleAdmin}
	for _, role := range roles {
		tok := e.token(t, "u-"+string(role), role)
		for _, mc := range mutationCases {
			// A fresh risk and response for each call, so that one call's
			// success does not decide the next one's outcome.
			risk := e.registerRisk(t, staff, "Matrix risk")
			resp := e.propose(t, staff, risk.ID)
			r := e.post(t, tok, mc.query, vars{"in": mc.in(fixture{risk: risk.ID, response: resp.ID})})
			var allowed bool
			if mc.decisionRole != "" {
				allowed = role == mc.decisionRole
			} else {
				allowed = role == domain.RoleStaff || role == domain.RoleAdmin
			}
			switch {
			case allowed && r.code() == "FORBIDDEN":
				t.Errorf("%s may %s, got FORBIDDEN", role, mc.name)
			case !allowed && r.code() != "FORBIDDEN":
				t.Errorf("%s running %s: %+v, want FORBIDDEN", role, mc.name, r.Errors)
			case !allowed && string(r.Data) != "null":
				t.Errorf("%s running %s answered data %s", role, mc.name, r.Data)
			}
		}
		// Every authenticated principal may query.
		if r := e.post(t, tok, `{ me { subject } events(first: 1) { edges { cursor } } }`, nil); len(r.Errors) > 0 {
			t.Errorf("%s querying: %+v", role, r.Errors)
		}
	}
}

// TestConflictUnderParallelWriters: 20 writers assess the same version; one
// wins, the others get CONFLICT with the current version.
func TestConflictUnderParallelWriters(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	risk := e.registerRisk(t, staff, "Contended")
	const n = 20
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = e.post(t, staff, `mutation($in: AssessRiskInput!) { assessRisk(input: $in) { version } }`,
				vars{"in": map[string]any{"id": risk.ID, "expectedVersion": 1, "kind": "INHERENT",
					"likelihood": 1 + i%5, "impact": 3, "rationale": fmt.Sprint("writer ", i)}})
		})
	}
	wg.Wait()
	wins := 0
	for _, r := range results {
		switch {
		case len(r.Errors) == 0:
			wins++
		case r.code() != "CONFLICT" || r.Errors[0].Extensions["currentVersion"] != float64(2):
			t.Errorf("loser: %+v, want CONFLICT with currentVersion 2", r.Errors)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers won, want 1", wins)
	}
}

// TestIdempotencyKey: a repeated key answers the first result and records
// nothing, even when the expected version is stale by then.
func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	in := riskInput("Once")
	in["idempotencyKey"] = "k-1"
	var first, again struct{ RegisterRisk riskOut }
	q := `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { ` + riskFields + ` } }`
	e.must(t, staff, q, vars{"in": in}, &first)
	e.must(t, staff, q, vars{"in": in}, &again)
	if first.RegisterRisk.ID != again.RegisterRisk.ID || first.RegisterRisk.Reference != again.RegisterRisk.Reference {
		t.Errorf("repeat answered %+v, first %+v", again.RegisterRisk, first.RegisterRisk)
	}
	assess := map[string]any{"id": first.RegisterRisk.ID, "expectedVersion": 1, "kind": "INHERENT",
		"likelihood": 3, "impact": 3, "rationale": "mid", "idempotencyKey": "k-2"}
	aq := `mutation($in: AssessRiskInput!) { assessRisk(input: $in) { version } }`
	var a1, a2 struct{ AssessRisk struct{ Version int } }
	e.must(t, staff, aq, vars{"in": assess}, &a1)
	e.must(t, staff, aq, vars{"in": assess}, &a2)
	if a1.AssessRisk.Version != 2 || a2.AssessRisk.Version != 2 {
		t.Errorf("versions %d and %d, want 2 and 2", a1.AssessRisk.Version, a2.AssessRisk.Version)
	}
	var events struct {
		Events struct{ Edges []struct{ Cursor string } }
	}
	e.must(t, staff, `{ events { edges { cursor } } }`, nil, &events)
	if len(events.Events.Edges) != 2 {
		t.Errorf("%d events recorded, want 2", len(events.Events.Edges))
	}
}

// TestStaleDecision: a body decides on a version that is no longer current:
// CONFLICT, and nothing is recorded.
func TestStaleDecision(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	ac := e.token(t, "ada", acRole)
	risk := e.registerRisk(t, staff, "Moving target")
	e.assess(t, staff, risk.ID, 1, 2, 2)
	r := e.decide(t, ac, "AUDIT_COMMITTEE", "FLAG", risk.ID, 1)
	if r.code() != "CONFLICT" || r.Errors[0].Extensions["currentVersion"] != float64(2) {
		t.Fatalf("stale decision: %+v, want CONFLICT with currentVersion 2", r.Errors)
	}
	var out struct {
		Risk      riskOut
		Decisions struct{ TotalCount int }
	}
	e.must(t, staff, `query($id: ID!) { risk(id: $id) { `+riskFields+` } decisions { totalCount } }`, vars{"id": risk.ID}, &out)
	if out.Risk.Flagged || out.Risk.Version != 2 || out.Decisions.TotalCount != 0 {
		t.Errorf("after the stale decision: %+v", out)
	}
	if r := e.decide(t, ac, "AUDIT_COMMITTEE", "ENDORSE", risk.ID, 2); r.code() != "FAILED_PRECONDITION" {
		t.Errorf("AC taking an ENDORSE: %+v, want FAILED_PRECONDITION", r.Errors)
	}
	if r := e.decide(t, ac, "AUDIT_COMMITTEE", "FLAG", "no-such-risk", 1); r.code() != "NOT_FOUND" {
		t.Errorf("decision on a missing subject: %+v, want NOT_FOUND", r.Errors)
	}
}

// TestTimeTravel reads a risk, the register and the heat map as they stood
// before a change.
func TestTimeTravel(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	risk := e.registerRisk(t, staff, "Before")
	e.assess(t, staff, risk.ID, 1, 2, 2)
	time.Sleep(5 * time.Millisecond)
	between := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	e.assess(t, staff, risk.ID, 2, 5, 5)
	e.post(t, staff, `mutation($in: UpdateRiskInput!) { updateRisk(input: $in) { id } }`,
		vars{"in": map[string]any{"id": risk.ID, "expectedVersion": 3, "title": "After"}})

	q := `query($id: ID!, $at: Time, $v: Int) {
		then: risk(id: $id, asOf: $at) { title version inherent { score } }
		v1: risk(id: $id, atVersion: $v) { title version inherent { score } }
		now: risk(id: $id) { title version inherent { score } }
		register: risks(asOf: $at, filter: {band: GREEN}) { totalCount }
		heat: heatMap(asOf: $at, ratingKind: INHERENT) { cells { likelihood impact count } }
	}`
	type snap struct {
		Title    string
		Version  int
		Inherent *struct{ Score int }
	}
	var out struct {
		Then, V1, Now snap
		Register      struct{ TotalCount int }
		Heat          struct {
			Cells []struct{ Likelihood, Impact, Count int }
		}
	}
	e.must(t, staff, q, vars{"id": risk.ID, "at": between.Format(time.RFC3339Nano), "v": 1}, &out)
	if out.Then.Title != "Before" || out.Then.Version != 2 || out.Then.Inherent.Score != 4 {
		t.Errorf("as of between: %+v", out.Then)
	}
	if out.V1.Version != 1 || out.V1.Inherent != nil {
		t.Errorf("at version 1: %+v", out.V1)
	}
	if out.Now.Title != "After" || out.Now.Version != 4 || out.Now.Inherent.Score != 25 {
		t.Errorf("now: %+v", out.Now)
	}
	if out.Register.TotalCount != 1 {
		t.Errorf("GREEN risks as of between: %d, want 1", out.Register.TotalCount)
	}
	if len(out.Heat.Cells) != 25 {
		t.Fatalf("%d heat map cells, want 25", len(out.Heat.Cells))
	}
	for _, c := range out.Heat.Cells {
		want := 0
		if c.Likelihood == 2 && c.Impact == 2 {
			want = 1
		}
		if c.Count != want {
			t.Errorf("heat map cell (%d,%d) as of between: %d risks, want %d", c.Likelihood, c.Impact, c.Count, want)
		}
	}
}

// TestPagingTheWholeLog pages through the log, with writers appending
// meanwhile, and sees every event once, in order.
func TestPagingTheWholeLog(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	for i := range 10 {
		e.registerRisk(t, staff, fmt.Sprint("Risk ", i))
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	written := 10
	wg.Go(func() {
		for ctx.Err() == nil {
			e.registerRisk(t, staff, "Meanwhile")
			written++
		}
	})
	seen := map[string]bool{}
	var positions []string
	after := ""
	for page := 0; page < 1000; page++ {
		var out struct {
			Events struct {
				Edges []struct {
					Cursor string
					Node   struct{ ID, Position string }
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		e.must(t, staff, `query($after: String) { events(first: 3, after: $after) { edges { cursor node { id position } } pageInfo { hasNextPage endCursor } } }`,
			vars{"after": after}, &out)
		for _, edge := range out.Events.Edges {
			if seen[edge.Node.ID] {
				t.Fatalf("event %s seen twice", edge.Node.ID)
			}
			if edge.Cursor != edge.Node.Position {
				t.Errorf("cursor %s is not the position %s", edge.Cursor, edge.Node.Position)
			}
			seen[edge.Node.ID] = true
			positions = append(positions, edge.Cursor)
		}
		if page == 3 {
			cancel()
			wg.Wait()
		}
		if !out.Events.PageInfo.HasNextPage && page > 3 {
			break
		}
		if out.Events.PageInfo.EndCursor != nil {
			after = *out.Events.PageInfo.EndCursor
		}
	}
	cancel()
	wg.Wait()
	if len(seen) != written {
		t.Errorf("paged %d events, %d were written", len(seen), written)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] <= positions[i-1] {
			t.Fatalf("positions out of order at %d: %s after %s", i, positions[i], positions[i-1])
		}
	}
}

// TestListsAndFilters: risks with a filter and paging, nested responses and
// decisions, decisions by body.
func TestListsAndFilters(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	ac := e.token(t, "ada", acRole)
	var red []string
	for i := range 5 {
		r := e.registerRisk(t, staff, fmt.Sprint("Listed ", i))
		if i%2 == 0 {
			e.assess(t, staff, r.ID, 1, 5, 5)
			red = append(red, r.ID)
			e.propose(t, staff, r.ID)
			decided(t, e.decide(t, ac, "AUDIT_COMMITTEE", "FLAG", r.ID, 2))
		}
	}
	q := `query($after: String) { risks(filter: {band: RED, flagged: true}, first: 2, after: $after) {
		totalCount pageInfo { hasNextPage endCursor } edges { node { id responses { status decisions { id } } decisions { kind body } } } } }`
	var got []string
	after := ""
	for {
		var out struct {
			Risks struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct {
					Node struct {
						ID        string
						Responses []struct{ Status string }
						Decisions []struct{ Kind, Body string }
					}
				}
			}
		}
		e.must(t, staff, q, vars{"after": after}, &out)
		if out.Risks.TotalCount != 3 {
			t.Errorf("totalCount %d, want 3", out.Risks.TotalCount)
		}
		for _, edge := range out.Risks.Edges {
			got = append(got, edge.Node.ID)
			if len(edge.Node.Responses) != 1 || len(edge.Node.Decisions) != 1 || edge.Node.Decisions[0].Kind != "FLAG" {
				t.Errorf("risk %s: responses %+v decisions %+v", edge.Node.ID, edge.Node.Responses, edge.Node.Decisions)
			}
		}
		if !out.Risks.PageInfo.HasNextPage {
			break
		}
		after = out.Risks.PageInfo.EndCursor
	}
	if strings.Join(got, ",") != strings.Join(red, ",") {
		t.Errorf("RED flagged risks %v, want %v", got, red)
	}
	var search struct{ Risks struct{ TotalCount int } }
	e.must(t, staff, `{ risks(filter: {search: "listed 3"}) { totalCount } }`, nil, &search)
	if search.Risks.TotalCount != 1 {
		t.Errorf("search found %d, want 1", search.Risks.TotalCount)
	}
	var byBody struct {
		AC      struct{ TotalCount int }
		Council struct{ TotalCount int }
	}
	e.must(t, staff, `{ AC: decisions(body: AUDIT_COMMITTEE) { totalCount } Council: decisions(body: COUNCIL) { totalCount } }`, nil, &byBody)
	if byBody.AC.TotalCount != 3 || byBody.Council.TotalCount != 0 {
		t.Errorf("decisions by body: %+v", byBody)
	}
}

// TestBadInput: every malformed or abusive request is refused with the
// contract's code, and nothing is recorded.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	risk := e.registerRisk(t, staff, "Target")
	assess := func(l int) vars {
		return vars{"in": map[string]any{"id": risk.ID, "expectedVersion": 1, "kind": "INHERENT", "likelihood": l, "impact": 3, "rationale": "r"}}
	}
	blank, long := riskInput(" "), riskInput(strings.Repeat("x", 201))
	deep := `{ risks(first: 1) { edges { node { responses { risk { responses { risk { responses { risk { responses { risk { responses { risk { id } } } } } } } } } } } } } }`
	aliases := "{" + bigQuery("a%d: me { subject } ", 30) + "}"
	aliases = fmt.Sprintf(aliases, anyInts(30)...)
	for _, tc := range []struct {
		name, query string
		vars        vars
		code        string
	}{
		{"first over 500", `{ events(first: 501) { edges { cursor } } }`, nil, "BAD_USER_INPUT"},
		{"first over 500 on risks", `{ risks(first: 1000) { totalCount } }`, nil, "BAD_USER_INPUT"},
		{"likelihood 0", `mutation($in: AssessRiskInput!) { assessRisk(input: $in) { id } }`, assess(0), "BAD_USER_INPUT"},
		{"blank title", `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`, vars{"in": blank}, "BAD_USER_INPUT"},
		{"title over 200", `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`, vars{"in": long}, "BAD_USER_INPUT"},
		{"malformed cursor", `{ events(after: "not-a-cursor") { edges { cursor } } }`, nil, "BAD_USER_INPUT"},
		{"asOf and atVersion", `query($id: ID!) { risk(id: $id, asOf: "2026-01-01T00:00:00Z", atVersion: 1) { id } }`, vars{"id": risk.ID}, "BAD_USER_INPUT"},
		{"malformed time", `query($id: ID!) { risk(id: $id, asOf: "yesterday") { id } }`, vars{"id": risk.ID}, "BAD_USER_INPUT"},
		{"unknown risk", `{ risk(id: "nope") { id } }`, nil, "NOT_FOUND"},
		{"registerChanges to before from", `{ registerChanges(from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { totalCount } }`, nil, "BAD_USER_INPUT"},
		{"heatMapMovement to before from", `{ heatMapMovement(from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { risk { id } } }`, nil, "BAD_USER_INPUT"},
		{"registerChanges first over 500", `{ registerChanges(from: "2026-01-01T00:00:00Z", first: 501) { totalCount } }`, nil, "BAD_USER_INPUT"},
		{"too deep", deep, nil, "GRAPHQL_VALIDATION_FAILED"},
		{"too many aliases", aliases, nil, "GRAPHQL_VALIDATION_FAILED"},
		{"too complex", `{ events(first: 500) { edges { node { id } } } risks(first: 500) { edges { node { responses { decisions { effects { id } } } } } } }`, nil, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"too complex moves", `{ heatMapMovement(from: "2026-01-01T00:00:00Z") { risk { responses { decisions { effects { id } } } } } }`, nil, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"too complex changes", `{ registerChanges(from: "2026-01-01T00:00:00Z", first: 500) { edges { node { events { id type } decisions { effects { id } } } } } }`, nil, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"parse error", `{ me { subject `, nil, "GRAPHQL_PARSE_FAILED"},
	} {
		r := e.post(t, staff, tc.query, tc.vars)
		if r.code() != tc.code {
			t.Errorf("%s: %+v, want %s", tc.name, r.Errors, tc.code)
		}
	}
	r := e.post(t, staff, `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`, vars{"in": blank})
	if fields, _ := r.Errors[0].Extensions["fields"].([]any); len(fields) == 0 || !strings.Contains(fmt.Sprint(fields), "title") {
		t.Errorf("BAD_USER_INPUT without field details: %+v", r.Errors[0])
	}
	var n struct {
		Events struct{ Edges []struct{ Cursor string } }
	}
	e.must(t, staff, `{ events { edges { cursor } } }`, nil, &n)
	if len(n.Events.Edges) != 1 {
		t.Errorf("%d events after bad input, want 1", len(n.Events.Edges))
	}

	// A body over 1 MiB is refused before it is parsed.
	huge := []byte(`{"query":"{ me { subject } }","variables":{"x":"` + strings.Repeat("x", 1<<20) + `"}}`)
	if r := e.send(t, staff, huge); r.Status < 400 || len(r.Errors) == 0 {
		t.Errorf("a 1 MiB body: %d %+v, want refused", r.Status, r.Errors)
	}
}

func anyInts(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// introspectionQuery is graphql-js's getIntrospectionQuery(), about 15
// levels deep.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "int", domain.RoleIntegration)
	var out struct {
		Schema struct{ Types []struct{ Name string } } `json:"__schema"`
	}
	e.must(t, tok, introspectionQuery, nil, &out)
	if len(out.Schema.Types) < 40 {
		t.Errorf("introspection returned %d types", len(out.Schema.Types))
	}
	off := newEnv(t, func(o *graph.Options) { o.DisableIntrospection = true })
	if r := off.post(t, off.token(t, "int", domain.RoleIntegration), introspectionQuery, nil); len(r.Errors) == 0 {
		t.Error("introspection answered with introspection turned off")
	}
}

// TestUnauthenticated: no, bad, expired and revoked tokens are all refused.
func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	expired, _, err := auth.NewStore(e.pool, func() time.Time { return time.Now().Add(-2 * time.Hour) }).
		Create(ctx, "old", []domain.Role{staffRole}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoked, tok, err := e.tokens.Create(ctx, "gone", []domain.Role{staffRole}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.post(t, revoked, `{ me { subject } }`, nil); r.code() != "" {
		t.Fatalf("before revocation: %+v", r.Errors)
	}
	if err := e.tokens.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	valid := e.token(t, "ok", staffRole)
	forged := valid[:len(valid)-4] + "AAAA"
	for name, token := range map[string]string{"none": "", "garbage": "hello", "forged": forged, "expired": expired, "revoked": revoked} {
		r := e.post(t, token, `{ me { subject } }`, nil)
		if r.Status != http.StatusUnauthorized || r.code() != "UNAUTHENTICATED" || r.Data != nil {
			t.Errorf("%s token: %d %+v %s, want 401 UNAUTHENTICATED", name, r.Status, r.Errors, r.Data)
		}
	}
	if strings.Contains(e.logs.String(), valid) || strings.Contains(e.logs.String(), "hello") {
		t.Error("the log contains a token")
	}
}

// TestRequestLog: one JSON line per request with operation, principal and
// request id, and neither the token nor the variables.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "sam", staffRole)
	in := riskInput("Secret title 12345")
	e.post(t, tok, `mutation Reg($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`, vars{"in": in}, "X-Request-ID", "rid-7")
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			line = m
		}
	}
	if line["operation"] != "Reg" || line["principal"] != "sam" || line["request_id"] != "rid-7" || line["duration_ms"] == nil {
		t.Errorf("request log line %v", line)
	}
	if logs := e.logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, "Secret title 12345") {
		t.Errorf("the log holds the token or the variables:\n%s", logs)
	}
}

// TestInternalErrorsDoNotLeak: a database failure is answered as INTERNAL
// with the request id, without driver text, and logged in full.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, "sam", staffRole)
	risk := e.registerRisk(t, tok, "Doomed")
	// Break the read side under the API: the events table disappears from
	// the search path.
	if _, err := e.pool.Exec(context.Background(), `CREATE SCHEMA hidden; ALTER TABLE events SET SCHEMA hidden`); err != nil {
		t.Fatal(err)
	}
	r := e.post(t, tok, `query($id: ID!) { risk(id: $id) { id } }`, vars{"id": risk.ID}, "X-Request-ID", "rid-internal")
	if r.code() != "INTERNAL" || r.Errors[0].Extensions["requestId"] != "rid-internal" {
		t.Fatalf("answer %+v, want INTERNAL with the request id", r.Errors)
	}
	if msg := r.Errors[0].Message; strings.Contains(msg, "events") || strings.Contains(msg, "SQLSTATE") || strings.Contains(msg, "relation") {
		t.Errorf("the message leaks the cause: %q", msg)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "rid-internal") || !strings.Contains(logs, "events") {
		t.Errorf("the log lacks the request id or the cause:\n%s", logs)
	}
}
