package domain

import (
	"strings"
	"testing"
)

// enumCase checks one enum type's Parse and Valid against the contract's
// spelling of its values.
type enumCase struct {
	name   string
	field  string
	values []string
	parse  func(string) (string, error)
	valid  func(string) bool
}

// enum builds an enumCase for T.
func enum[T interface {
	~string
	Valid() bool
}](name, field string, parse func(string) (T, error), values ...string) enumCase {
	return enumCase{
		name: name, field: field, values: values,
		parse: func(s string) (string, error) { v, err := parse(s); return string(v), err },
		valid: func(s string) bool { return T(s).Valid() },
	}
}

func TestEnums(t *testing.T) {
	// The values as the GraphQL contract spells them.
	cases := []enumCase{
		enum("Band", "band", ParseBand, "GREEN", "AMBER", "RED"),
		enum("RatingKind", "kind", ParseRatingKind, "INHERENT", "RESIDUAL", "TARGET"),
		enum("RiskStatus", "status", ParseRiskStatus,
			"OPEN", "ASSESSED", "TREATING", "MONITORING", "TOLERATED", "CLOSED", "WITHDRAWN"),
		enum("ResponseOption", "option", ParseResponseOption, "AVOID", "REDUCE", "SHARE", "ACCEPT"),
		enum("ResponseStatus", "status", ParseResponseStatus,
			"DRAFT", "SUBMITTED", "RECOMMENDED", "RETURNED", "ENDORSED", "REJECTED",
			"IN_PROGRESS", "IMPLEMENTED", "VERIFIED", "CLOSED", "WITHDRAWN"),
		enum("Body", "body", ParseBody, "AUDIT_COMMITTEE", "POLICY_COMMISSION", "COUNCIL"),
		enum("DecisionKind", "kind", ParseDecisionKind,
			"FLAG", "ADVICE", "VERIFY", "RECOMMEND", "RETURN", "ENDORSE", "REJECT", "ACCEPT_RISK", "CLOSE_RISK", "NOTE"),
		enum("SubjectKind", "kind", ParseSubjectKind, "RISK", "RESPONSE"),
		enum("Role", "role", ParseRole,
			"staff", "audit_committee", "policy_commission", "council", "auditor", "integration", "admin"),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range c.values {
				got, err := c.parse(s)
				assertError(t, err, nil)
				if got != s || !c.valid(s) {
					t.Errorf("Parse(%q) = %q; Valid = %v", s, got, c.valid(s))
				}
			}
			wrongCase := strings.ToLower(c.values[0])
			if wrongCase == c.values[0] {
				wrongCase = strings.ToUpper(wrongCase)
			}
			for _, s := range []string{"", " " + c.values[0], wrongCase, "UNKNOWN"} {
				got, err := c.parse(s)
				assertError(t, err, fields(c.field, unknownValue(s)))
				if got != "" || c.valid(s) {
					t.Errorf("Parse(%q) = %q; Valid = %v", s, got, c.valid(s))
				}
			}
		})
	}
}

func TestTerminalStatuses(t *testing.T) {
	for _, s := range riskStatuses {
		want := s == RiskStatusClosed || s == RiskStatusWithdrawn
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v", s, !want)
		}
	}
	for _, s := range responseStatuses {
		want := s == ResponseStatusClosed || s == ResponseStatusWithdrawn || s == ResponseStatusRejected
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %v", s, !want)
		}
	}
}
