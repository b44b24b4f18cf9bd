package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/riskreg/riskreg/migrations"
)

// runMigrate runs "riskreg migrate up | down N | version".
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("migrate up | down N | version [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) == 0 {
		return usageErrorf(fs, "migrate needs one of up, down N, version")
	}
	action, steps := positional[0], 0
	switch {
	case action == "up" && len(positional) == 1, action == "version" && len(positional) == 1:
	case action == "down" && len(positional) == 2:
		if steps, err = strconv.Atoi(positional[1]); err != nil || steps < 1 {
			return usageErrorf(fs, "migrate down needs a positive number of migrations to roll back, not %q", positional[1])
		}
	default:
		return usageErrorf(fs, "cannot migrate %q", positional)
	}

	db.initialise = action == "up"
	return withDatabase(ctx, db, logger, func(url string) error {
		switch action {
		case "up":
			if err := migrations.Up(ctx, url); err != nil {
				return err
			}
		case "down":
			if err := migrations.Down(ctx, url, steps); err != nil {
				return err
			}
		}
		version, dirty, err := migrations.Version(ctx, url)
		if err != nil {
			return err
		}
		if action == "version" {
			if dirty {
				fmt.Fprintf(stdout, "%d (dirty: the last migration failed half way)\n", version)
			} else {
				fmt.Fprintln(stdout, version)
			}
			return nil
		}
		logger.Info("migrated", "action", action, "version", version, "dirty", dirty)
		return nil
	})
}
