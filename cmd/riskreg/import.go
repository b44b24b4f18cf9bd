package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/importer"
	"github.com/riskreg/riskreg/register"
)

// errBadRows reports an import that found bad rows.
var errBadRows = errors.New("the file has bad rows")

// mapFlags collects repeated --map column=field flags.
type mapFlags []string

func (m *mapFlags) String() string { return strings.Join(*m, " ") }

// Set implements flag.Value.
func (m *mapFlags) Set(s string) error {
	*m = append(*m, s)
	return nil
}

// runImport runs "riskreg import --file FILE.xlsx|FILE.csv [--sheet NAME]
// [--map column=field ...] [--dry-run] [--partial]".
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("import --file FILE.xlsx|FILE.csv [--sheet NAME] [--map column=field ...] [--dry-run] [--partial] [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	file := fs.String("file", "", "the `FILE` to import: .xlsx or .csv, a header row then one risk per row")
	sheet := fs.String("sheet", "", "the XLSX `sheet` to read (default the first)")
	var maps mapFlags
	fs.Var(&maps, "map", "rename a `column=field` (fields: "+strings.Join(importer.Fields, ", ")+"); repeatable")
	source := fs.String("source", "", "the file's `source`, part of every row's idempotency key and the risks' source when there is no source column (default the file's name)")
	actor := fs.String("actor", "import", "the `subject` recorded as the actor of the events")
	dryRun := fs.Bool("dry-run", false, "write nothing; print the events that would be written")
	partial := fs.Bool("partial", false, "import the good rows even when some rows are bad")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "import takes no arguments, got %q", positional)
	}
	if *file == "" {
		return usageErrorf(fs, "--file is required")
	}
	mapping, err := importer.ParseMap(maps)
	if err != nil {
		return usageErrorf(fs, "%v", err)
	}
	if *source == "" {
		*source = filepath.Base(*file)
	}
	rows, err := readImportFile(*file, *sheet)
	if err != nil {
		return err
	}
	return withStore(ctx, db, logger, func(store *eventstore.Store) error {
		req := register.Request{Principal: domain.Principal{Subject: *actor, Roles: []domain.Role{domain.RoleStaff}},
			RequestID: "import:" + *source, CorrelationID: "import:" + *source}
		rep, err := importer.Import(ctx, register.New(store, time.Now), req,
			rows, importer.Options{Source: *source, Sheet: *sheet, Map: mapping, DryRun: *dryRun, Partial: *partial})
		if err != nil {
			return err
		}
		return printImport(stdout, rep)
	})
}

// readImportFile reads the rows of a .csv or .xlsx file.
func readImportFile(name, sheet string) ([][]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return importer.ReadCSV(f)
	case ".xlsx":
		return importer.ReadXLSX(f, sheet)
	}
	return nil, fmt.Errorf("%w: %s: want a .csv or .xlsx file", importer.ErrInvalidInput, name)
}

// printImport prints the report: every bad cell, then in a dry run every
// event that would be written (one JSON object a line), then a summary.
func printImport(w io.Writer, rep *importer.Report) error {
	for _, e := range rep.Errors {
		fmt.Fprintln(w, e.Error())
	}
	created, existed := 0, 0
	for _, r := range rep.Risks {
		if r.Existed {
			existed++
			fmt.Fprintf(w, "row %d: %s exists already (%s)\n", r.Row, r.Reference, r.Title)
			continue
		}
		created++
		if !rep.DryRun {
			fmt.Fprintf(w, "row %d: %s %s\n", r.Row, r.Reference, r.Title)
			continue
		}
		for _, e := range r.Events {
			line, err := json.Marshal(struct {
				Row      int          `json:"row"`
				StreamID string       `json:"streamId"`
				Type     string       `json:"type"`
				Data     domain.Event `json:"data"`
			}{r.Row, r.ID, e.EventType(), e})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n", line)
		}
	}
	switch {
	case len(rep.Errors) > 0 && !rep.Written && len(rep.Risks) == 0:
		fmt.Fprintf(w, "%d rows read, %d bad: nothing written (fix them, or use --partial)\n", rep.Rows, countRows(rep.Errors))
		return fmt.Errorf("%w: %d", errBadRows, countRows(rep.Errors))
	case rep.DryRun:
		fmt.Fprintf(w, "dry run: %d rows read, %d risks would be registered and assessed (reference assigned when written), %d exist already, %d bad rows\n",
			rep.Rows, created, existed, countRows(rep.Errors))
	default:
		fmt.Fprintf(w, "%d rows read: %d risks registered and assessed, %d existed already, %d bad rows skipped\n",
			rep.Rows, created, existed, countRows(rep.Errors))
	}
	return nil
}

// countRows counts the rows errors are about.
func countRows(errs []importer.RowError) int {
	rows := map[int]bool{}
	for _, e := range errs {
		rows[e.Row] = true
	}
	return len(rows)
}
