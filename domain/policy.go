package domain

import "slices"

// Action is something a principal may be allowed to do. The mutation
// actions are spelled like the API's mutations.
type Action string

// The actions of the policy.
const (
	ActionRegisterRisk         Action = "registerRisk"
	ActionUpdateRisk           Action = "updateRisk"
	ActionAssessRisk           Action = "assessRisk"
	ActionCloseRisk            Action = "closeRisk"
	ActionWithdrawRisk         Action = "withdrawRisk"
	ActionProposeResponse      Action = "proposeResponse"
	ActionReviseResponse       Action = "reviseResponse"
	ActionSubmitResponse       Action = "submitResponse"
	ActionStartResponse        Action = "startResponse"
	ActionReportImplementation Action = "reportImplementation"
	ActionCloseResponse        Action = "closeResponse"
	ActionWithdrawResponse     Action = "withdrawResponse"
	// ActionRecordDecision is recording a decision of some body; see
	// Principal.AuthorizeDecision for a given body.
	ActionRecordDecision  Action = "recordDecision"
	ActionRead            Action = "read"
	ActionSubscribe       Action = "subscribe"
	ActionVerifyIntegrity Action = "verifyIntegrity"
	// ActionReadLog is reading the Merkle log's proofs and entries: auditor
	// and admin only.
	ActionReadLog Action = "readLog"
)

// staffActions are the register mutations: staff and admin may run them.
var staffActions = []Action{
	ActionRegisterRisk, ActionUpdateRisk, ActionAssessRisk, ActionCloseRisk, ActionWithdrawRisk,
	ActionProposeResponse, ActionReviseResponse, ActionSubmitResponse, ActionStartResponse,
	ActionReportImplementation, ActionCloseResponse, ActionWithdrawResponse,
	ActionScheduleSession, ActionTableItem,
}

// bodyRoles gives the one role that records each body's decisions.
var bodyRoles = map[Body]Role{
	BodyAuditCommittee:   RoleAuditCommittee,
	BodyPolicyCommission: RolePolicyCommission,
	BodyCouncil:          RoleCouncil,
}

// Principal is an authenticated caller: a subject and its roles.
type Principal struct {
	Subject string
	Roles   []Role
}

// HasRole reports whether p holds role r.
func (p Principal) HasRole(r Role) bool { return slices.Contains(p.Roles, r) }

// Authorize returns a *ForbiddenError unless p's roles allow action a:
//   - every principal, even one with no roles, may read, subscribe and verify
//     the log's integrity (the contract lets every authenticated principal
//     run queries and subscriptions, and integrity is a query);
//   - staff and admin may run the register mutations;
//   - audit_committee, policy_commission and council may record decisions
//     (of their own body only: see AuthorizeDecision);
//   - auditor and admin may read the Merkle log's proofs and entries;
//   - auditor and integration may do nothing more than that.
//
// An unknown action is refused.
func (p Principal) Authorize(a Action) error {
	if p.allows(a) {
		return nil
	}
	return &ForbiddenError{Subject: p.Subject, Action: string(a)}
}

// allows reports whether p's roles allow action a.
func (p Principal) allows(a Action) bool {
	switch {
	case a == ActionRead || a == ActionSubscribe || a == ActionVerifyIntegrity:
		return true
	case slices.Contains(staffActions, a):
		return p.HasRole(RoleStaff) || p.HasRole(RoleAdmin)
	case a == ActionRecordDecision:
		return slices.ContainsFunc(bodies, func(b Body) bool { return p.HasRole(bodyRoles[b]) })
	case a == ActionReadLog:
		return p.HasRole(RoleAuditor) || p.HasRole(RoleAdmin)
	}
	return false
}

// AuthorizeDecision returns a *ForbiddenError unless p may record decisions
// of body b: only the body's own role may (audit_committee for
// AUDIT_COMMITTEE, and so on); admin never may.
func (p Principal) AuthorizeDecision(b Body) error {
	if role, ok := bodyRoles[b]; ok && p.HasRole(role) {
		return nil
	}
	return &ForbiddenError{Subject: p.Subject, Action: string(ActionRecordDecision) + ":" + string(b)}
}
