package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/eventstore"
)

// The access stream: every token issued or revoked is an event of the log,
// so that the audit trail shows who could do what, and when. It never holds
// a token's secret or its hash.
const (
	accessStream     = "access"
	accessStreamType = "access"
)

// tokenIssued is the data of a TokenIssued event.
type tokenIssued struct {
	TokenID   string     `json:"tokenId"`
	Subject   string     `json:"subject"`
	Roles     []string   `json:"roles"`
	ExpiresAt *time.Time `json:"expiresAt"` // null: until revoked
	IssuedBy  string     `json:"issuedBy"`
}

// tokenRevoked is the data of a TokenRevoked event.
type tokenRevoked struct {
	TokenID   string `json:"tokenId"`
	Subject   string `json:"subject,omitempty"`
	RevokedBy string `json:"revokedBy"`
}

// operator names who runs this command: the operating system account and
// host, as "riskreg token" is run by an operator on a machine.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "cli:" + name + "@" + host
}

// recordTokenIssued appends TokenIssued for t to the access stream. When it
// cannot, it revokes the token again: a token nobody can see in the log must
// not work.
func recordTokenIssued(ctx context.Context, pool *pgxpool.Pool, tokens *auth.Store, t auth.Token) error {
	d := tokenIssued{TokenID: t.ID, Subject: t.Subject, IssuedBy: operator()}
	for _, r := range t.Roles {
		d.Roles = append(d.Roles, string(r))
	}
	if !t.ExpiresAt.IsZero() {
		at := t.ExpiresAt.UTC()
		d.ExpiresAt = &at
	}
	err := appendAccess(ctx, pool, "TokenIssued", d, d.IssuedBy)
	if err != nil {
		if rerr := tokens.Revoke(context.WithoutCancel(ctx), t.ID); rerr != nil {
			return errors.Join(err, fmt.Errorf("and the token could not be revoked again: %w", rerr))
		}
		return fmt.Errorf("%w (the token was revoked again)", err)
	}
	return nil
}

// recordTokenRevoked appends TokenRevoked for token id to the access stream.
func recordTokenRevoked(ctx context.Context, pool *pgxpool.Pool, tokens *auth.Store, id string) error {
	d := tokenRevoked{TokenID: id, RevokedBy: operator()}
	if list, err := tokens.List(ctx); err == nil {
		for _, t := range list {
			if t.ID == id {
				d.Subject = t.Subject
			}
		}
	}
	return appendAccess(ctx, pool, "TokenRevoked", d, d.RevokedBy)
}

func appendAccess(ctx context.Context, pool *pgxpool.Pool, eventType string, data any, actor string) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("access stream: %w", err)
	}
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		return err
	}
	defer store.Close()
	_, err = store.Append(ctx, eventstore.StreamAppend{StreamID: accessStream, StreamType: accessStreamType, Expected: eventstore.Any,
		Events: []eventstore.Event{{Type: eventType, Data: b, Metadata: eventstore.Metadata{Actor: actor}}}})
	if err != nil {
		return fmt.Errorf("access stream: record %s: %w", eventType, err)
	}
	return nil
}
