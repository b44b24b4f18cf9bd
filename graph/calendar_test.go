package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskreg/riskreg/calendar"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
)

// sweepAt runs the calendar's sweeper once with its clock at now.
func (e *env) sweepAt(t *testing.T, now time.Time) {
	t.Helper()
	s, err := calendar.New(calendar.Config{Store: e.store, Reader: projection.NewReader(e.store), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := projection.NewReader(e.store).WaitFor(ctx, e.store.LastAppended()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
}

type edges[T any] struct {
	TotalCount int
	Edges      []struct{ Node T }
}

func TestCalendarLists(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", domain.RoleStaff)
	red := e.registerRisk(t, staff, "Cyber attack")
	red = e.assess(t, staff, red.ID, red.Version, 5, 4)
	amber := e.registerRisk(t, staff, "Key staff")
	amber = e.assess(t, staff, amber.ID, amber.Version, 3, 3)
	green := e.registerRisk(t, staff, "Office supply")
	green = e.assess(t, staff, green.ID, green.Version, 1, 2)

	var byRef struct {
		RiskByReference *struct {
			ID            string
			NextReview    string
			ReviewOverdue bool
		}
	}
	e.must(t, staff, `query($r: String!) { riskByReference(reference: $r) { id nextReview reviewOverdue } }`, vars{"r": red.Reference}, &byRef)
	if byRef.RiskByReference == nil || byRef.RiskByReference.ID != red.ID ||
		byRef.RiskByReference.NextReview != red.UpdatedAt.UTC().AddDate(0, 0, 30).Format(time.DateOnly) {
		t.Fatalf("riskByReference = %+v", byRef.RiskByReference)
	}
	e.must(t, staff, `{ riskByReference(reference: "R-9999") { id } }`, nil, &byRef)
	if byRef.RiskByReference != nil {
		t.Error("an unknown reference found a risk")
	}

	order := func(by string) []string {
		var out struct{ RisksOrdered edges[struct{ ID string }] }
		e.must(t, staff, `query($o: RiskOrder) { risksOrdered(orderBy: $o) { totalCount edges { node { id } } } }`, vars{"o": by}, &out)
		var ids []string
		for _, edge := range out.RisksOrdered.Edges {
			ids = append(ids, edge.Node.ID)
		}
		return ids
	}
	if got := order("SCORE"); len(got) != 3 || got[0] != red.ID || got[1] != amber.ID || got[2] != green.ID {
		t.Errorf("by score: %v", got)
	}
	if got := order("NEXT_REVIEW"); len(got) != 3 || got[0] != red.ID || got[2] != green.ID {
		t.Errorf("by next review: %v", got)
	}
	var page struct {
		RisksOrdered struct {
			Edges    []struct{ Cursor string }
			PageInfo struct{ HasNextPage bool }
		}
	}
	e.must(t, staff, `{ risksOrdered(orderBy: SCORE, first: 2) { edges { cursor } pageInfo { hasNextPage } } }`, nil, &page)
	if len(page.RisksOrdered.Edges) != 2 || !page.RisksOrdered.PageInfo.HasNextPage {
		t.Fatalf("first page: %+v", page)
	}
	var rest struct{ RisksOrdered edges[struct{ ID string }] }
	e.must(t, staff, `query($a: String) { risksOrdered(orderBy: SCORE, after: $a) { totalCount edges { node { id } } } }`,
		vars{"a": page.RisksOrdered.Edges[1].Cursor}, &rest)
	if len(rest.RisksOrdered.Edges) != 1 || rest.RisksOrdered.Edges[0].Node.ID != green.ID {
		t.Errorf("second page: %+v", rest)
	}
	if r := e.post(t, staff, `{ risksOrdered(after: "nonsense") { totalCount } }`, nil); r.code() != "BAD_USER_INPUT" {
		t.Errorf("bad cursor: %+v", r.Errors)
	}

	// A response past its due date, and half a year without reviews.
	resp := e.propose(t, staff, red.ID) // due 2027-06-30
	e.sweepAt(t, time.Date(2027, 7, 1, 8, 0, 0, 0, time.UTC))

	var overdue struct{ Risks edges[struct{ ID string }] }
	e.must(t, staff, `{ risks(filter: {reviewOverdue: true}) { totalCount edges { node { id } } } }`, nil, &overdue)
	if overdue.Risks.TotalCount != 3 {
		t.Errorf("overdue reviews: %+v", overdue)
	}
	e.must(t, staff, `{ risks(filter: {acceptanceLapsed: true}) { totalCount edges { node { id } } } }`, nil, &overdue)
	if overdue.Risks.TotalCount != 0 {
		t.Errorf("lapsed: %+v", overdue)
	}
	if r := e.post(t, staff, `{ risks(filter: {reviewOverdue: true}, asOf: "2026-01-01T00:00:00Z") { totalCount } }`, nil); r.code() != "BAD_USER_INPUT" {
		t.Errorf("calendar filter with asOf: %+v", r.Errors)
	}

	type respNode struct {
		ID      string
		Overdue bool
		DueDate string
	}
	var list struct{ Responses edges[respNode] }
	e.must(t, staff, `{ responses(filter: {overdue: true}) { totalCount edges { node { id overdue dueDate } } } }`, nil, &list)
	if list.Responses.TotalCount != 1 || list.Responses.Edges[0].Node.ID != resp.ID || !list.Responses.Edges[0].Node.Overdue {
		t.Errorf("overdue responses: %+v", list)
	}
	e.must(t, staff, `query($r: ID) { responses(filter: {riskId: $r, status: DRAFT, owner: "Director", dueBefore: "2027-07-01"}) { totalCount edges { node { id overdue dueDate } } } }`,
		vars{"r": red.ID}, &list)
	if list.Responses.TotalCount != 1 {
		t.Errorf("filtered responses: %+v", list)
	}
	e.must(t, staff, `{ responses(filter: {dueBefore: "2027-06-30"}) { totalCount edges { node { id } } } }`, nil, &list)
	if list.Responses.TotalCount != 0 {
		t.Errorf("due before its due date: %+v", list)
	}
	// As of a past instant, by the domain's rule on that day.
	asOf := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.must(t, staff, `query($t: Time) { responses(asOf: $t, filter: {overdue: false}) { totalCount edges { node { id overdue } } } }`,
		vars{"t": asOf}, &list)
	if list.Responses.TotalCount != 1 || list.Responses.Edges[0].Node.Overdue {
		t.Errorf("responses as of now+1h: %+v", list)
	}
}

func TestStaleDecisionsAndAgenda(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", domain.RoleStaff)
	ac := e.token(t, "ac-clerk", domain.RoleAuditCommittee)
	pc := e.token(t, "pc-clerk", domain.RolePolicyCommission)

	risk := e.registerRisk(t, staff, "Cyber attack")
	risk = e.assess(t, staff, risk.ID, risk.Version, 5, 4)
	resp := e.propose(t, staff, risk.ID)
	resp = e.transition(t, staff, "submitResponse", resp.ID, resp.Version)

	// Sessions: the PC meets, tables the response.
	var sched struct{ ScheduleSession struct{ ID, Title string } }
	e.must(t, staff, `mutation { scheduleSession(body: POLICY_COMMISSION, date: "2026-12-01", title: "PC 85th Session") { id title } }`, nil, &sched)
	sessionID := sched.ScheduleSession.ID
	// Staff and admin schedule and table; no other role does.
	for _, role := range []domain.Role{domain.RoleAuditCommittee, domain.RolePolicyCommission, domain.RoleCouncil,
		domain.RoleAuditor, domain.RoleIntegration} {
		tok := e.token(t, "x", role)
		if r := e.post(t, tok, `mutation { scheduleSession(body: COUNCIL, date: "2026-12-01", title: "x") { id } }`, nil); r.code() != "FORBIDDEN" {
			t.Errorf("%s scheduling a session: %+v", role, r.Errors)
		}
		if r := e.post(t, tok, `mutation($s: ID!, $x: ID!) { tableItem(sessionId: $s, subjectId: $x) { id } }`, vars{"s": sessionID, "x": resp.ID}); r.code() != "FORBIDDEN" {
			t.Errorf("%s tabling an item: %+v", role, r.Errors)
		}
	}
	var adminSession struct{ ScheduleSession struct{ ID string } }
	e.must(t, e.token(t, "root", domain.RoleAdmin), `mutation { scheduleSession(body: COUNCIL, date: "2026-12-02", title: "Council, extraordinary session", idempotencyKey: "admin-1") { id } }`,
		nil, &adminSession)
	e.must(t, staff, `mutation($s: ID!, $x: ID!) { tableItem(sessionId: $s, subjectId: $x, note: "for recommendation") { id version } }`,
		vars{"s": sessionID, "x": resp.ID}, &struct{}{})
	if r := e.post(t, staff, `mutation($s: ID!, $x: ID!) { tableItem(sessionId: $s, subjectId: $x) { id } }`, vars{"s": sessionID, "x": resp.ID}); r.code() != "FAILED_PRECONDITION" {
		t.Errorf("tabling twice: %+v", r.Errors)
	}
	if r := e.post(t, staff, `mutation($s: ID!) { tableItem(sessionId: $s, subjectId: "nothing") { id } }`, vars{"s": sessionID}); r.code() != "NOT_FOUND" {
		t.Errorf("tabling nothing: %+v", r.Errors)
	}

	// The Audit Committee flags the risk; the PC returns the response at
	// its session (the decision names the session).
	flag := e.decide(t, ac, "AUDIT_COMMITTEE", "FLAG", risk.ID, risk.Version)
	var flagOut struct{ RecordDecision struct{ ID string } }
	flag.decode(t, &flagOut)
	var ret struct{ RecordDecision struct{ ID string } }
	e.post(t, pc, decideMutation, vars{"in": map[string]any{"body": "POLICY_COMMISSION", "session": sessionID, "kind": "RETURN",
		"text": "Returned.", "subjects": []any{map[string]any{"id": resp.ID, "expectedVersion": resp.Version}}}}).decode(t, &ret)

	// Staff revise the response and re-rate the risk: both decisions are
	// now stale.
	var rev struct{ ReviseResponse responseOut }
	e.must(t, staff, `mutation($in: ReviseResponseInput!) { reviseResponse(input: $in) { id status version } }`,
		vars{"in": map[string]any{"id": resp.ID, "expectedVersion": resp.Version + 1, "title": "Treat it better"}}, &rev)
	var fresh struct{ Risk riskOut }
	e.must(t, staff, `query($id: ID!) { risk(id: $id) { `+riskFields+` } }`, vars{"id": risk.ID}, &fresh)
	e.assess(t, staff, risk.ID, fresh.Risk.Version, 3, 3)
	e.assess(t, staff, risk.ID, fresh.Risk.Version+1, 3, 3) // same score again: not material

	type change struct {
		SubjectID string
		Kind      string
		Summary   string
		Event     struct{ Type string }
	}
	var d struct {
		Decision struct {
			SessionID           *string
			SubjectChangedSince []change
		}
	}
	e.must(t, staff, `query($id: ID!) { decision(id: $id) { sessionId subjectChangedSince { subjectId kind summary event { type } } } }`,
		vars{"id": flagOut.RecordDecision.ID}, &d)
	if c := d.Decision.SubjectChangedSince; len(c) != 1 || c[0].Kind != "RERATED" || c[0].Event.Type != "RiskAssessed" ||
		c[0].Summary != "INHERENT rating 20 (RED) -> 9 (AMBER)" || d.Decision.SessionID != nil {
		t.Errorf("FLAG decision: %+v", d.Decision)
	}
	e.must(t, staff, `query($id: ID!) { decision(id: $id) { sessionId subjectChangedSince { subjectId kind summary event { type } } } }`,
		vars{"id": ret.RecordDecision.ID}, &d)
	if c := d.Decision.SubjectChangedSince; len(c) != 1 || c[0].Kind != "RESPONSE_REVISED" || c[0].SubjectID != resp.ID ||
		d.Decision.SessionID == nil || *d.Decision.SessionID != sessionID {
		t.Errorf("RETURN decision: %+v", d.Decision)
	}

	type session struct {
		ID    string
		Title string
		Items []struct {
			SubjectID          string
			VersionTabled      int
			VersionNow         int
			ChangedSinceTabled bool
			Note               string
			Response           *struct{ Title string }
		}
		SuggestedAgenda []struct {
			Reason     string
			SubjectID  string
			DecisionID *string
		}
		Decisions       []struct{ ID string }
		PreviousSession *struct{ ID string }
	}
	var s struct{ Session session }
	e.must(t, staff, `query($id: ID!) { session(id: $id) { id title items { subjectId versionTabled versionNow changedSinceTabled note response { title } }
		suggestedAgenda { reason subjectId decisionId } decisions { id } previousSession { id } } }`, vars{"id": sessionID}, &s)
	it := s.Session.Items
	if len(it) != 1 || it[0].VersionTabled != resp.Version || it[0].VersionNow != resp.Version+2 || !it[0].ChangedSinceTabled ||
		it[0].Response == nil || it[0].Response.Title != "Treat it" || it[0].Note != "for recommendation" {
		t.Errorf("items: %+v", it)
	}
	if len(s.Session.Decisions) != 1 || s.Session.Decisions[0].ID != ret.RecordDecision.ID || s.Session.PreviousSession != nil {
		t.Errorf("decisions and previous: %+v", s.Session)
	}
	// The risk became RED and was flagged before this first PC session;
	// the response is tabled already, so its stale decision is not
	// suggested again.
	var reasons []string
	for _, a := range s.Session.SuggestedAgenda {
		reasons = append(reasons, a.Reason+":"+a.SubjectID)
	}
	if len(reasons) != 1 || reasons[0] != "NEW_FLAGGED:"+risk.ID {
		t.Errorf("PC agenda: %v", reasons)
	}

	// The Audit Committee's next session: its FLAG decision is stale.
	e.must(t, staff, `mutation { scheduleSession(body: AUDIT_COMMITTEE, date: "2026-11-01", title: "AC 1") { id } }`, nil, &sched)
	e.must(t, staff, `mutation { scheduleSession(body: AUDIT_COMMITTEE, date: "2026-12-15", title: "AC 2") { id } }`, nil, &sched)
	e.must(t, staff, `query($id: ID!) { session(id: $id) { id title items { subjectId } suggestedAgenda { reason subjectId decisionId } decisions { id } previousSession { id } } }`,
		vars{"id": sched.ScheduleSession.ID}, &s)
	var stale bool
	for _, a := range s.Session.SuggestedAgenda {
		if a.Reason == "SUBJECT_CHANGED" && a.SubjectID == risk.ID && a.DecisionID != nil && *a.DecisionID == flagOut.RecordDecision.ID {
			stale = true
		}
	}
	if !stale || s.Session.PreviousSession == nil {
		t.Errorf("AC 2 agenda: %+v", s.Session)
	}
	var sessions struct{ Sessions []struct{ Title string } }
	e.must(t, staff, `{ sessions(body: AUDIT_COMMITTEE) { title } }`, nil, &sessions)
	if len(sessions.Sessions) != 2 || sessions.Sessions[0].Title != "AC 1" {
		t.Errorf("sessions: %+v", sessions)
	}
	var node struct{ Node *struct{ Title string } }
	e.must(t, staff, `query($id: ID!) { node(id: $id) { ... on Session { title } } }`, vars{"id": sessionID}, &node)
	if node.Node == nil || node.Node.Title != "PC 85th Session" {
		t.Errorf("node: %+v", node)
	}
}

func TestImportRisksMutation(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", domain.RoleStaff)
	const mutation = `mutation($csv: String!, $dry: Boolean, $map: [String!]) { importRisks(csv: $csv, source: "plan.csv", map: $map, dryRun: $dry) {
		rows dryRun written errors { row column message } risks { row reference title riskId created } } }`
	csv := "Risk title,description,category,owner,likelihood,impact\nCyber attack,cause -> event,IT,CIO,5,4\nKey staff,cause,HR,Director,3,3\n"
	m := []string{"Risk title=title"}
	for _, role := range []domain.Role{domain.RoleCouncil, domain.RoleAuditor, domain.RoleIntegration} {
		if r := e.post(t, e.token(t, "x", role), mutation, vars{"csv": csv, "map": m}); r.code() != "FORBIDDEN" {
			t.Errorf("%s importing: %+v", role, r.Errors)
		}
	}
	type report struct {
		ImportRisks struct {
			Rows    int
			DryRun  bool
			Written bool
			Errors  []struct {
				Row     int
				Column  string
				Message string
			}
			Risks []struct {
				Row       int
				Reference *string
				RiskID    *string
				Created   bool
			}
		}
	}
	var dry report
	e.must(t, staff, mutation, vars{"csv": csv, "dry": true, "map": m}, &dry)
	if dry.ImportRisks.Written || len(dry.ImportRisks.Risks) != 2 || dry.ImportRisks.Risks[0].Reference != nil {
		t.Errorf("dry run: %+v", dry)
	}
	var rep report
	e.must(t, staff, mutation, vars{"csv": csv, "map": m}, &rep)
	if !rep.ImportRisks.Written || len(rep.ImportRisks.Risks) != 2 || !rep.ImportRisks.Risks[0].Created || rep.ImportRisks.Risks[0].Reference == nil {
		t.Fatalf("import: %+v", rep)
	}
	e.must(t, staff, mutation, vars{"csv": csv, "map": m}, &rep)
	if rep.ImportRisks.Written || rep.ImportRisks.Risks[1].Created {
		t.Errorf("second import: %+v", rep)
	}
	var bad report
	e.must(t, staff, mutation, vars{"csv": "title,description,category,owner,likelihood,impact\nX,d,c,o,9,1\n"}, &bad)
	if bad.ImportRisks.Written || len(bad.ImportRisks.Errors) != 1 || bad.ImportRisks.Errors[0].Column != "likelihood" || bad.ImportRisks.Errors[0].Row != 2 {
		t.Errorf("bad row: %+v", bad)
	}
	if r := e.post(t, staff, mutation, vars{"csv": "no,fields\n1,2\n"}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("no mapped columns: %+v", r.Errors)
	}
}
