package domain

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencies keeps the domain free of infrastructure: it may import
// the standard library only, and not net/http or database/sql even from
// there.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps",
		"-f", "{{.ImportPath}} {{.Standard}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self = "github.com/riskreg/riskreg/domain"
	forbidden := []string{"net/http", "database/sql", "pgx", "gqlgen", "watermill", "log/slog"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, standard, _ := strings.Cut(line, " ")
		if path != self && standard != "true" {
			t.Errorf("domain depends on %s, which is not in the standard library", path)
		}
		for _, f := range forbidden {
			if strings.Contains(path, f) {
				t.Errorf("domain depends on %s", path)
			}
		}
	}
}

// TestNoClockOrRandomness keeps clocks and random ids out of the domain:
// they are passed in, so that replays are deterministic.
func TestNoClockOrRandomness(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, banned := range []string{"time.Now", "time.Since", "time.Until", "math/rand", "crypto/rand"} {
			if strings.Contains(string(src), banned) {
				t.Errorf("%s uses %s", name, banned)
			}
		}
	}
}
