package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned (wrapped, with where pgembed looked and how to
// install them) by Start when no PostgreSQL server binaries are installed.
var ErrNoBinaries = errors.New("pgembed: no PostgreSQL server binaries (initdb, postgres) found")

// binSearch says where to look for server binaries.
type binSearch struct {
	pgConfig string // pg_config, looked up in PATH unless it is a path
	glob     string // versioned bin dirs; the * is the major version
}

var defaultSearch = binSearch{pgConfig: "pg_config", glob: "/usr/lib/postgresql/*/bin"}

// findBinDir returns the first directory holding initdb and postgres among:
// the bin dir of version preferVersion (the data dir's own, when it has one),
// `pg_config --bindir`, and the versioned bin dirs, newest first. pg_config
// alone is not enough: libpq-dev ships it without the server.
func findBinDir(ctx context.Context, preferVersion string, s binSearch) (string, error) {
	var candidates []string
	if preferVersion != "" {
		candidates = append(candidates, strings.Replace(s.glob, "*", preferVersion, 1))
	}
	if path, err := exec.LookPath(s.pgConfig); err == nil {
		if out, err := exec.CommandContext(ctx, path, "--bindir").Output(); err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
	}
	versioned, _ := filepath.Glob(s.glob) // the pattern is well-formed
	slices.SortFunc(versioned, func(a, b string) int { return compareVersions(versionOf(b, s.glob), versionOf(a, s.glob)) })
	candidates = append(candidates, versioned...)

	var looked []string
	for _, dir := range candidates {
		if checkBinDir(dir) == nil {
			return dir, nil
		}
		if !slices.Contains(looked, dir) {
			looked = append(looked, dir)
		}
	}
	if len(versioned) == 0 {
		looked = append(looked, s.glob)
	}
	return "", fmt.Errorf("%w (looked in %s): install them, e.g. `apt-get install postgresql` on Debian or Ubuntu",
		ErrNoBinaries, strings.Join(looked, ", "))
}

// checkBinDir reports whether dir holds the programs pgembed runs.
func checkBinDir(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%w: %s has no executable %s", ErrNoBinaries, dir, name)
		}
	}
	return nil
}

// versionOf extracts the part of dir that the * of glob matched.
func versionOf(dir, glob string) string {
	prefix, suffix, _ := strings.Cut(glob, "*")
	return strings.TrimSuffix(strings.TrimPrefix(dir, prefix), suffix)
}

// compareVersions orders dotted numeric versions ("9.6" < "15"); parts that
// are not numbers compare as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}
