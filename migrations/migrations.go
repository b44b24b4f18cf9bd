// Package migrations holds riskreg's database schema as numbered SQL files and
// applies them with golang-migrate. No table is created anywhere else.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed *.sql
var files embed.FS

// Up applies every pending migration to the database at databaseURL.
func Up(ctx context.Context, databaseURL string) error {
	return run(ctx, databaseURL, func(m *migrate.Migrate) error { return m.Up() })
}

// Down rolls back the last n applied migrations.
func Down(ctx context.Context, databaseURL string, n int) error {
	if n < 1 {
		return fmt.Errorf("migrations: down needs a positive number of steps, got %d", n)
	}
	return run(ctx, databaseURL, func(m *migrate.Migrate) error {
		version, _, err := m.Version()
		if err != nil && !errors.Is(err, migrate.ErrNilVersion) {
			return err
		}
		versions, err := shipped()
		if err != nil {
			return err
		}
		applied := 0
		for _, v := range versions {
			if v <= version {
				applied++
			}
		}
		if n > applied {
			return fmt.Errorf("%w: cannot roll back %d migrations: the schema is at version %d, which is %d migrations; "+
				"down %d rolls back all of them", ErrPastFirst, n, version, applied, applied)
		}
		return m.Steps(-n)
	})
}

// ErrPastFirst reports a Down of more migrations than are applied; it rolls
// back none.
var ErrPastFirst = errors.New("past the first migration")

// Version reports the current schema version and whether the last migration
// failed half way (dirty). Version 0 means no migration has been applied.
func Version(ctx context.Context, databaseURL string) (version uint, dirty bool, err error) {
	err = run(ctx, databaseURL, func(m *migrate.Migrate) error {
		var verr error
		version, dirty, verr = m.Version()
		if errors.Is(verr, migrate.ErrNilVersion) {
			return nil
		}
		return verr
	})
	return version, dirty, err
}

// Latest is the highest migration version shipped in this binary.
func Latest() (uint, error) {
	versions, err := shipped()
	if err != nil {
		return 0, err
	}
	return versions[len(versions)-1], nil
}

// Count is the number of migrations shipped in this binary: the steps Down
// takes to roll the schema all the way back. Versions need not be dense.
func Count() (int, error) {
	versions, err := shipped()
	return len(versions), err
}

// shipped returns the versions of the embedded migrations in order.
func shipped() ([]uint, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: read embedded files: %w", err)
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return nil, fmt.Errorf("migrations: first: %w", err)
	}
	versions := []uint{v}
	for {
		next, err := src.Next(v)
		if err != nil {
			return versions, nil
		}
		versions = append(versions, next)
		v = next
	}
}

func run(ctx context.Context, databaseURL string, step func(*migrate.Migrate) error) error {
	dbURL, err := driverURL(databaseURL)
	if err != nil {
		return err
	}
	src, err := iofs.New(files, ".")
	if err != nil {
		return fmt.Errorf("migrations: read embedded files: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, dbURL)
	if err != nil {
		return fmt.Errorf("migrations: connect: %w", redact(err, databaseURL))
	}
	defer m.Close()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-done:
		}
	}()

	if err := step(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrations: %w", redact(err, databaseURL))
	}
	return nil
}

// driverURL turns a postgres:// URL (or key=value DSN) into the pgx5:// form
// that golang-migrate's pgx/v5 driver registers.
func driverURL(databaseURL string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "pgx5") {
		return "", errors.New("migrations: the database URL must be of the form postgres://user@host:port/dbname")
	}
	u.Scheme = "pgx5"
	return u.String(), nil
}

// redact keeps a password that may be embedded in the URL out of error text.
func redact(err error, databaseURL string) error {
	u, perr := url.Parse(databaseURL)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}
