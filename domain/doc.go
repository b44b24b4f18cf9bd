// Package domain holds the rules of the riskreg governance cycle as plain,
// event-sourced Go: risks, the strategic responses that treat them, and the
// decisions of the Audit Committee, the Policy Commission and the Council.
//
// Every aggregate (Risk, StrategicResponse, Decision) is one event stream.
// Its state is unexported and rebuilt by folding its events with Apply (or
// the ...FromHistory constructors). Commands validate their input, check the
// invariants against the current state and return the new events without
// changing anything; the caller appends them to the store and then applies
// them. Governance decisions are a pure function, RecordDecision, that
// returns the DecisionRecorded event and the effect events for every subject.
//
// The package knows nothing about storage, transport, logging, clocks or id
// generation: ids, the acting principal and the time are passed in, so a
// replay of the same events always yields the same state.
package domain
