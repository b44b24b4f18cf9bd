package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/register"
)

// TestImportAndPaper imports the example Audit Plan (dry run, for real,
// again), then asks for a paper of a session that does not exist.
func TestImportAndPaper(t *testing.T) {
	url := pgtest.NewDatabase(t)
	example, err := filepath.Abs("../../docs/examples/audit-plan.csv")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"import", "--file", example, "--source", "Audit Plan 2021",
		"--map", "Risk title=title", "--map", "Risk owner=owner", "--database-url", url}
	dry := mustRiskreg(t, append(args, "--dry-run")...)
	if strings.Count(dry, `"type":"RiskRegistered"`) != 12 || !strings.Contains(dry, "dry run: 12 rows read, 12 risks would be registered") {
		t.Errorf("dry run printed:\n%s", dry)
	}
	out := mustRiskreg(t, args...)
	if !strings.Contains(out, "row 2: R-0001 Insufficient financial resources") || !strings.Contains(out, "12 risks registered and assessed") {
		t.Errorf("import printed:\n%s", out)
	}
	out = mustRiskreg(t, args...)
	if !strings.Contains(out, "0 risks registered and assessed, 12 existed already") {
		t.Errorf("second import printed:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("title,description,category,owner,likelihood,impact\nX,d,c,o,6,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := riskreg(t, "import", "--file", bad, "--database-url", url)
	if code != 1 || !strings.Contains(stdout, `row 2, column "likelihood": must be between 1 and 5`) || !strings.Contains(stdout, "nothing written") {
		t.Errorf("bad file: exit %d:\n%s", code, stdout)
	}

	// A paper of a scheduled session, with no serve process running: the
	// command runs the projections itself until they reach the log's end.
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := eventstore.New(pool, eventstore.Config{Upcasters: register.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	when, _ := domain.ParseDate("2030-06-20")
	sess, err := register.New(store, time.Now).ScheduleSession(context.Background(), register.Request{
		Principal: domain.Principal{Subject: "sam", Roles: []domain.Role{domain.RoleStaff}}}, domain.BodyCouncil, when, "Council, 141st Session")
	if err != nil {
		t.Fatal(err)
	}
	out = mustRiskreg(t, "paper", "--session", sess.ID(), "--format", "csv", "--out", "-", "--database-url", url)
	if !strings.Contains(out, "Summary,Session,\"Council, 141st Session\"") || !strings.Contains(out, "Summary,Risks on the register,12") {
		t.Errorf("paper printed:\n%s", out)
	}

	_, stderr, code := riskreg(t, "paper", "--session", "nope", "--format", "pdf", "--out", filepath.Join(t.TempDir(), "p.pdf"), "--database-url", url)
	if code != 1 || !strings.Contains(stderr, "no such session") {
		t.Errorf("paper of no session: exit %d:\n%s", code, stderr)
	}
	for _, a := range [][]string{
		{"paper", "--format", "pdf", "--out", "x.pdf"},
		{"paper", "--session", "s", "--format", "docx", "--out", "x.docx"},
		{"import"},
		{"import", "--file", "x.csv", "--map", "nonsense"},
	} {
		if _, _, code := riskreg(t, a...); code != 2 {
			t.Errorf("riskreg %v exited %d, want 2", a, code)
		}
	}
}
