package auth

import "time"

// The access stream: every token issued or revoked is an event of the log
// (appended by "riskreg token create|revoke"), so that the audit trail
// shows who could do what, and when. Its events never hold a token's
// secret or its hash. The relay publishes them like any other event; their
// data's JSON Schemas are in docs/events/.
const (
	AccessStream     = "access" // the stream id
	AccessStreamType = "access" // its stream type
)

// Event types of the access stream.
const (
	EventTokenIssued  = "TokenIssued"
	EventTokenRevoked = "TokenRevoked"
)

// TokenIssued is the data of a TokenIssued event: a token was created.
type TokenIssued struct {
	TokenID   string     `json:"tokenId"`
	Subject   string     `json:"subject"`
	Roles     []string   `json:"roles"`
	ExpiresAt *time.Time `json:"expiresAt"` // null: until revoked
	IssuedBy  string     `json:"issuedBy"`
}

// EventType returns "TokenIssued".
func (TokenIssued) EventType() string { return EventTokenIssued }

// SchemaVersion returns the version of the data's shape.
func (TokenIssued) SchemaVersion() int { return 1 }

// TokenRevoked is the data of a TokenRevoked event: a token was revoked.
type TokenRevoked struct {
	TokenID   string `json:"tokenId"`
	Subject   string `json:"subject,omitempty"` // empty when the token was not found
	RevokedBy string `json:"revokedBy"`
}

// EventType returns "TokenRevoked".
func (TokenRevoked) EventType() string { return EventTokenRevoked }

// SchemaVersion returns the version of the data's shape.
func (TokenRevoked) SchemaVersion() int { return 1 }
