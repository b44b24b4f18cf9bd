package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
)

// roleFlags collects repeated --role flags.
type roleFlags []domain.Role

func (r *roleFlags) String() string { return fmt.Sprint(*r) }

func (r *roleFlags) Set(s string) error {
	role, err := domain.ParseRole(s)
	if err != nil {
		return fmt.Errorf("unknown role %q (one of staff, audit_committee, policy_commission, council, auditor, integration, admin)", s)
	}
	*r = append(*r, role)
	return nil
}

var _ flag.Value = (*roleFlags)(nil)

// runToken runs "riskreg token create | list | revoke".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("token create --subject NAME --role ROLE [--role ROLE ...] [--expires 30d|720h|never] | token list | token revoke ID [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	subject := fs.String("subject", "", "the `name` of the person or system the token is for (create)")
	var roles roleFlags
	fs.Var(&roles, "role", "a `role` the token grants; repeat for several (create)")
	expiresFlag := fs.String("expires", defaultTokenLifetime,
		"how long the token is valid: days (30d), a Go duration (720h, 90m) or never (create)")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) == 0 {
		return usageErrorf(fs, "token needs create, list or revoke")
	}
	var expires time.Duration
	switch cmd := positional[0]; {
	case cmd == "create" && len(positional) == 1:
		if strings.TrimSpace(*subject) == "" || len(roles) == 0 {
			return usageErrorf(fs, "token create needs --subject and at least one --role")
		}
		if expires, err = parseLifetime(*expiresFlag); err != nil {
			return usageErrorf(fs, "--expires %q: %v", *expiresFlag, err)
		}
	case cmd == "list" && len(positional) == 1:
	case cmd == "revoke" && len(positional) == 2:
	case cmd == "revoke":
		return usageErrorf(fs, "token revoke needs the ID of one token (the first column of token list): riskreg token revoke ID")
	default:
		return usageErrorf(fs, "unknown token command %q", positional)
	}
	return withDatabase(ctx, db, logger, func(url string) error {
		pool, err := openMigrated(ctx, url, 0)
		if err != nil {
			return err
		}
		defer pool.Close()
		tokens := auth.NewStore(pool, time.Now)
		switch positional[0] {
		case "create":
			token, t, err := tokens.Create(ctx, *subject, roles, expires)
			if err != nil {
				return err
			}
			if err := recordTokenIssued(ctx, pool, tokens, t); err != nil {
				return err
			}
			logger.Info("token created", "token_id", t.ID, "subject", t.Subject, "roles", t.Roles)
			_, err = fmt.Fprintln(stdout, token)
			return err
		case "list":
			list, err := tokens.List(ctx)
			if err != nil {
				return err
			}
			return printTokens(stdout, list, time.Now())
		default:
			if err := tokens.Revoke(ctx, positional[1]); err != nil {
				return err
			}
			if err := recordTokenRevoked(ctx, pool, tokens, positional[1]); err != nil {
				return err
			}
			logger.Info("token revoked", "token_id", positional[1])
			return nil
		}
	})
}

// defaultTokenLifetime is how long a token is valid when token create is
// given no --expires.
const defaultTokenLifetime = "90d"

// parseLifetime parses --expires: "never" (0: until revoked), a number of
// days ("30d") or a Go duration ("720h"); it must be positive.
func parseLifetime(s string) (time.Duration, error) {
	if s == "never" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, errors.New("want a whole number of days, e.g. 30d")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("want days (30d), a duration (720h) or never")
		}
	}
	if d <= 0 {
		return 0, errors.New("must be positive (or never)")
	}
	return d, nil
}

// printTokens prints one line per token: id, subject, roles, state, dates.
func printTokens(w io.Writer, list []auth.Token, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tROLES\tSTATE\tCREATED\tEXPIRES")
	for _, t := range list {
		state := "active"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked " + t.RevokedAt.Format(time.RFC3339)
		case !t.Active(now):
			state = "expired"
		}
		expires := "never"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.Format(time.RFC3339)
		}
		roles := make([]string, len(t.Roles))
		for i, r := range t.Roles {
			roles[i] = string(r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Subject, strings.Join(roles, ","), state, t.CreatedAt.Format(time.RFC3339), expires)
	}
	return tw.Flush()
}
