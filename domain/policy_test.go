package domain

import (
	"fmt"
	"slices"
	"testing"
)

// allActions lists every action of the policy.
var allActions = []Action{
	ActionRegisterRisk, ActionUpdateRisk, ActionAssessRisk, ActionCloseRisk, ActionWithdrawRisk,
	ActionProposeResponse, ActionReviseResponse, ActionSubmitResponse, ActionStartResponse,
	ActionReportImplementation, ActionCloseResponse, ActionWithdrawResponse,
	ActionRecordDecision, ActionRead, ActionSubscribe, ActionVerifyIntegrity, ActionReadLog,
}

func TestAuthorizeMatrix(t *testing.T) {
	// Y: allowed; the rows follow the contract's role table.
	const (
		Y = true
		n = false
	)
	matrix := map[Action]map[Role]bool{
		//                          staff        audit_committee          policy_commission          council          auditor          integration          admin
		ActionRegisterRisk:         {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionUpdateRisk:           {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionAssessRisk:           {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionCloseRisk:            {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionWithdrawRisk:         {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionProposeResponse:      {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionReviseResponse:       {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionSubmitResponse:       {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionStartResponse:        {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionReportImplementation: {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionCloseResponse:        {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionWithdrawResponse:     {RoleStaff: Y, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: n, RoleIntegration: n, RoleAdmin: Y},
		ActionRecordDecision:       {RoleStaff: n, RoleAuditCommittee: Y, RolePolicyCommission: Y, RoleCouncil: Y, RoleAuditor: n, RoleIntegration: n, RoleAdmin: n},
		ActionRead:                 {RoleStaff: Y, RoleAuditCommittee: Y, RolePolicyCommission: Y, RoleCouncil: Y, RoleAuditor: Y, RoleIntegration: Y, RoleAdmin: Y},
		ActionSubscribe:            {RoleStaff: Y, RoleAuditCommittee: Y, RolePolicyCommission: Y, RoleCouncil: Y, RoleAuditor: Y, RoleIntegration: Y, RoleAdmin: Y},
		ActionVerifyIntegrity:      {RoleStaff: Y, RoleAuditCommittee: Y, RolePolicyCommission: Y, RoleCouncil: Y, RoleAuditor: Y, RoleIntegration: Y, RoleAdmin: Y},
		ActionReadLog:              {RoleStaff: n, RoleAuditCommittee: n, RolePolicyCommission: n, RoleCouncil: n, RoleAuditor: Y, RoleIntegration: n, RoleAdmin: Y},
	}
	if len(matrix) != len(allActions) {
		t.Fatalf("matrix has %d actions, want %d", len(matrix), len(allActions))
	}
	for _, action := range allActions {
		for _, role := range roles {
			allowed, ok := matrix[action][role]
			if !ok {
				t.Fatalf("matrix misses %s x %s", action, role)
			}
			t.Run(fmt.Sprintf("%s/%s", role, action), func(t *testing.T) {
				p := Principal{Subject: "u-1", Roles: []Role{role}}
				var want error
				if !allowed {
					want = &ForbiddenError{Subject: "u-1", Action: string(action)}
				}
				assertError(t, p.Authorize(action), want)
			})
		}
	}
}

func TestAuthorizeDecisionMatrix(t *testing.T) {
	may := map[Role]Body{
		RoleAuditCommittee: BodyAuditCommittee, RolePolicyCommission: BodyPolicyCommission, RoleCouncil: BodyCouncil,
	}
	for _, role := range roles {
		for _, body := range bodies {
			t.Run(fmt.Sprintf("%s/%s", role, body), func(t *testing.T) {
				p := Principal{Subject: "u-1", Roles: []Role{role}}
				var want error
				if b, ok := may[role]; !ok || b != body {
					want = &ForbiddenError{Subject: "u-1", Action: "recordDecision:" + string(body)}
				}
				assertError(t, p.AuthorizeDecision(body), want)
			})
		}
	}
}

func TestAuthorizeEdgeCases(t *testing.T) {
	nobody := Principal{Subject: "u-0"}
	for _, a := range []Action{ActionRead, ActionSubscribe, ActionVerifyIntegrity} {
		assertError(t, nobody.Authorize(a), nil)
	}
	assertError(t, nobody.Authorize(ActionRegisterRisk), &ForbiddenError{Subject: "u-0", Action: "registerRisk"})
	assertError(t, nobody.AuthorizeDecision(BodyCouncil), &ForbiddenError{Subject: "u-0", Action: "recordDecision:COUNCIL"})

	clerk := Principal{Subject: "u-2", Roles: []Role{RoleAuditCommittee, RoleCouncil, "unknown"}}
	assertError(t, clerk.AuthorizeDecision(BodyAuditCommittee), nil)
	assertError(t, clerk.AuthorizeDecision(BodyCouncil), nil)
	assertError(t, clerk.AuthorizeDecision(BodyPolicyCommission),
		&ForbiddenError{Subject: "u-2", Action: "recordDecision:POLICY_COMMISSION"})
	assertError(t, clerk.Authorize(ActionUpdateRisk), &ForbiddenError{Subject: "u-2", Action: "updateRisk"})

	superuser := Principal{Subject: "root", Roles: slices.Clone(roles)}
	for _, a := range allActions {
		assertError(t, superuser.Authorize(a), nil)
	}
	assertError(t, superuser.Authorize("dropTables"), &ForbiddenError{Subject: "root", Action: "dropTables"})
	assertError(t, superuser.AuthorizeDecision("SECRETARIAT"),
		&ForbiddenError{Subject: "root", Action: "recordDecision:SECRETARIAT"})

	admin := Principal{Subject: "a", Roles: []Role{RoleAdmin}}
	if !admin.HasRole(RoleAdmin) || admin.HasRole(RoleStaff) {
		t.Error("HasRole")
	}
}
