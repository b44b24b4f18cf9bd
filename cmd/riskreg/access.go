package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/eventstore"
)

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
	d := auth.TokenIssued{TokenID: t.ID, Subject: t.Subject, IssuedBy: operator()}
	for _, r := range t.Roles {
		d.Roles = append(d.Roles, string(r))
	}
	if !t.ExpiresAt.IsZero() {
		at := t.ExpiresAt.UTC()
		d.ExpiresAt = &at
	}
	err := appendAccess(ctx, pool, d, d.IssuedBy)
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
	d := auth.TokenRevoked{TokenID: id, RevokedBy: operator()}
	if list, err := tokens.List(ctx); err == nil {
		for _, t := range list {
			if t.ID == id {
				d.Subject = t.Subject
			}
		}
	}
	return appendAccess(ctx, pool, d, d.RevokedBy)
}

// appendAccess appends an event of the access stream (auth.AccessStream).
func appendAccess(ctx context.Context, pool *pgxpool.Pool, data interface{ EventType() string }, actor string) error {
	eventType := data.EventType()
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("access stream: %w", err)
	}
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		return err
	}
	defer store.Close()
	_, err = store.Append(ctx, eventstore.StreamAppend{StreamID: auth.AccessStream, StreamType: auth.AccessStreamType, Expected: eventstore.Any,
		Events: []eventstore.Event{{Type: eventType, Data: b, Metadata: eventstore.Metadata{Actor: actor}}}})
	if err != nil {
		return fmt.Errorf("access stream: record %s: %w", eventType, err)
	}
	return nil
}
