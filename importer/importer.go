// Package importer brings an Audit Plan's risks into the register from a
// spreadsheet (XLSX) or CSV file: one risk per row, registered and assessed
// (inherent rating), with a report of every bad cell and nothing written
// while any row is bad (unless partial). Each row carries an idempotency
// key derived from the file's source and the row's content, so importing
// the same file twice creates nothing new.
package importer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/register"
)

// The fields a row maps to. title, description, category, owner,
// likelihood and impact are required; source defaults to the file's
// source, rationale to "Imported from <source>".
const (
	FieldTitle       = "title"
	FieldDescription = "description"
	FieldCategory    = "category"
	FieldSource      = "source"
	FieldOwner       = "owner"
	FieldLikelihood  = "likelihood"
	FieldImpact      = "impact"
	FieldRationale   = "rationale"
)

// Fields lists every field, in the order of the example file.
var Fields = []string{FieldTitle, FieldDescription, FieldCategory, FieldSource, FieldOwner, FieldLikelihood, FieldImpact, FieldRationale}

var required = []string{FieldTitle, FieldDescription, FieldCategory, FieldOwner, FieldLikelihood, FieldImpact}

// Limits of one import.
const (
	MaxRows      = 20_000
	MaxFileBytes = 32 << 20
)

// ErrInvalidInput is matched by errors about the file as a whole: not a
// CSV or XLSX file, no header, an unknown sheet or mapping.
var ErrInvalidInput = errors.New("importer: invalid input")

// RowError is a bad cell (or row).
type RowError struct {
	Row     int    // 1-based row number in the file, the header being row 1
	Column  string // the column's header as in the file; "" for the whole row
	Message string
}

// Error says where and what: `row 3, column "impact": ...`.
func (e RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s", e.Row, e.Message)
	}
	return fmt.Sprintf("row %d, column %q: %s", e.Row, e.Column, e.Message)
}

// Options configure an import.
type Options struct {
	// Source names the file (e.g. "Audit Plan 2026.xlsx"): part of every
	// row's idempotency key, and the risks' source when the file has no
	// source column.
	Source string
	// Sheet is the XLSX sheet to read; "" for the first.
	Sheet string
	// Map renames columns to fields: {"Risk title": "title"}. Columns whose
	// header is a field name (in any case) need no entry; other columns are
	// ignored.
	Map map[string]string
	// DryRun writes nothing and reports what would be written.
	DryRun bool
	// Partial writes the good rows even when some rows are bad.
	Partial bool
}

// Row is one imported (or importable) row.
type Row struct {
	Row int
	register.ImportedRisk
	Title string
}

// Report is the outcome of an import.
type Report struct {
	Rows    int // data rows read
	DryRun  bool
	Written bool // whether anything was (or, dry, would be) written
	Errors  []RowError
	Risks   []Row // the good rows, in file order
}

// ParseMap parses --map arguments of the form "column=field".
func ParseMap(args []string) (map[string]string, error) {
	m := make(map[string]string, len(args))
	for _, a := range args {
		col, field, ok := strings.Cut(a, "=")
		field = strings.ToLower(strings.TrimSpace(field))
		if !ok || strings.TrimSpace(col) == "" || !slices.Contains(Fields, field) {
			return nil, fmt.Errorf("%w: --map %q: want column=field, field one of %s", ErrInvalidInput, a, strings.Join(Fields, ", "))
		}
		m[strings.TrimSpace(col)] = field
	}
	return m, nil
}

// ReadCSV reads the rows of CSV data, header first; a blank line is an
// empty row.
func ReadCSV(r io.Reader) ([][]string, error) {
	cr := csv.NewReader(io.LimitReader(r, MaxFileBytes))
	cr.FieldsPerRecord = -1
	var rows [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a CSV file: %w", ErrInvalidInput, err)
		}
		if len(rows) > MaxRows {
			return nil, fmt.Errorf("%w: more than %d rows", ErrInvalidInput, MaxRows)
		}
		// The reader skips blank lines: keep their places, so that row
		// numbers are the lines records start on.
		for line, _ := cr.FieldPos(0); len(rows)+1 < line; {
			rows = append(rows, nil)
		}
		rows = append(rows, rec)
	}
}

// formulaMark starts a cell that held a formula in an XLSX file: such a
// cell is refused (see check).
const formulaMark = "\x00formula:"

// ReadXLSX reads the rows of a sheet of an XLSX workbook ("" for the first
// sheet), header first. A cell that holds a formula reads as a marker that
// the import refuses: the register takes values, not formulas.
func ReadXLSX(r io.Reader, sheet string) ([][]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrInvalidInput, MaxFileBytes)
	}
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not an XLSX workbook: %w", ErrInvalidInput, err)
	}
	defer f.Close()
	if sheet == "" {
		sheet = f.GetSheetName(0)
	}
	if idx, err := f.GetSheetIndex(sheet); err != nil || idx < 0 {
		return nil, fmt.Errorf("%w: no sheet %q (sheets: %s)", ErrInvalidInput, sheet, strings.Join(f.GetSheetList(), ", "))
	}
	rows, err := f.GetRows(sheet)
	if err != nil {
		return nil, fmt.Errorf("%w: sheet %q: %w", ErrInvalidInput, sheet, err)
	}
	if len(rows) > MaxRows+1 {
		return nil, fmt.Errorf("%w: more than %d rows", ErrInvalidInput, MaxRows)
	}
	formulas, err := formulaCells(f, sheet)
	if err != nil {
		return nil, err
	}
	for _, cell := range formulas {
		c, r, err := excelize.CellNameToCoordinates(cell.name)
		if err != nil || r > len(rows) {
			continue
		}
		row := rows[r-1]
		for len(row) < c {
			row = append(row, "")
		}
		row[c-1] = formulaMark + cell.formula
		rows[r-1] = row
	}
	return rows, nil
}

type formulaCell struct{ name, formula string }

// formulaCells returns the cells of sheet that hold formulas.
func formulaCells(f *excelize.File, sheet string) ([]formulaCell, error) {
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, fmt.Errorf("%w: sheet %q: %w", ErrInvalidInput, sheet, err)
	}
	defer rows.Close()
	var out []formulaCell
	for r := 1; rows.Next(); r++ {
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fmt.Errorf("%w: sheet %q row %d: %w", ErrInvalidInput, sheet, r, err)
		}
		for c := range cols {
			name, err := excelize.CoordinatesToCellName(c+1, r)
			if err != nil {
				return nil, err
			}
			if formula, err := f.GetCellFormula(sheet, name); err == nil && formula != "" {
				out = append(out, formulaCell{name: name, formula: formula})
			}
		}
	}
	return out, nil
}

// Plan turns rows (header first) into the risks to import and the errors
// of the bad rows.
func Plan(rows [][]string, opts Options, svc *register.Service, actor string) ([]register.NewRisk, []Row, []RowError, error) {
	if len(rows) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: the file is empty: it needs a header row", ErrInvalidInput)
	}
	header := rows[0]
	columns := make(map[string]int) // field -> column index
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		field, ok := opts.Map[h]
		if !ok && slices.Contains(Fields, strings.ToLower(h)) {
			field, ok = strings.ToLower(h), true
		}
		if !ok {
			continue
		}
		if _, dup := columns[field]; dup {
			return nil, nil, nil, fmt.Errorf("%w: two columns map to %s", ErrInvalidInput, field)
		}
		columns[field] = i
	}
	var missing []string
	for _, f := range required {
		if _, ok := columns[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, nil, nil, fmt.Errorf("%w: no column for %s (header: %q; map columns with --map column=field)",
			ErrInvalidInput, strings.Join(missing, ", "), header)
	}
	var (
		risks []register.NewRisk
		good  []Row
		bad   []RowError
		seen  = make(map[string]int)
	)
	for n, rec := range rows[1:] {
		rowNo := n + 2
		if blank(rec) {
			continue
		}
		nr, errs := parseRow(rec, rowNo, header, columns, opts, svc, actor)
		if len(errs) > 0 {
			bad = append(bad, errs...)
			continue
		}
		if first, dup := seen[nr.Key]; dup {
			bad = append(bad, RowError{Row: rowNo, Message: fmt.Sprintf("repeats row %d", first)})
			continue
		}
		seen[nr.Key] = rowNo
		risks = append(risks, nr)
		good = append(good, Row{Row: rowNo, Title: nr.Details.Title})
	}
	return risks, good, bad, nil
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// parseRow reads one row into a NewRisk, or its errors.
func parseRow(rec []string, rowNo int, header []string, columns map[string]int, opts Options, svc *register.Service, actor string) (register.NewRisk, []RowError) {
	var errs []RowError
	colName := func(field string) string {
		if i, ok := columns[field]; ok && i < len(header) {
			return header[i]
		}
		return field
	}
	get := func(field string) string {
		i, ok := columns[field]
		if !ok || i >= len(rec) {
			return ""
		}
		v := rec[i]
		if strings.HasPrefix(v, formulaMark) {
			errs = append(errs, RowError{Row: rowNo, Column: colName(field),
				Message: fmt.Sprintf("holds a formula (=%s); enter its value", strings.TrimPrefix(v, formulaMark))})
			return ""
		}
		return strings.TrimSpace(v)
	}
	number := func(field string) int {
		s := get(field)
		if s == "" {
			return 0 // reported by the domain's check
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == float64(int(f)) {
				return int(f) // a spreadsheet's "4.0"
			}
			errs = append(errs, RowError{Row: rowNo, Column: colName(field), Message: fmt.Sprintf("%q is not a whole number", s)})
		}
		return n
	}
	nr := register.NewRisk{Details: domain.RiskDetails{
		Title: get(FieldTitle), Description: get(FieldDescription), Category: get(FieldCategory),
		Source: get(FieldSource), Owner: get(FieldOwner),
	}, Likelihood: number(FieldLikelihood), Impact: number(FieldImpact), Rationale: get(FieldRationale)}
	if nr.Details.Source == "" {
		nr.Details.Source = opts.Source
	}
	if nr.Rationale == "" {
		nr.Rationale = "Imported from " + opts.Source
	}
	if len(errs) > 0 {
		return nr, errs
	}
	nr.Key = rowKey(opts.Source, nr)
	var ve *domain.ValidationError
	if err := svc.CheckNewRisk(nr, actor); errors.As(err, &ve) {
		for _, f := range ve.Fields {
			errs = append(errs, RowError{Row: rowNo, Column: colName(f.Field), Message: f.Message})
		}
	} else if err != nil {
		errs = append(errs, RowError{Row: rowNo, Message: err.Error()})
	}
	return nr, errs
}

// rowKey is a row's idempotency key: a hash of the file's source and the
// row's content.
func rowKey(source string, nr register.NewRisk) string {
	h := sha256.New()
	for _, s := range []string{source, nr.Details.Title, nr.Details.Description, nr.Details.Category, nr.Details.Source,
		nr.Details.Owner, strconv.Itoa(nr.Likelihood), strconv.Itoa(nr.Impact), nr.Rationale} {
		fmt.Fprintf(h, "%d:%s", utf8.RuneCountInString(s), s)
	}
	return "import:" + hex.EncodeToString(h.Sum(nil))
}

// Import plans rows (header first) and writes them: nothing when a row is
// bad, unless opts.Partial; nothing at all with opts.DryRun.
func Import(ctx context.Context, svc *register.Service, req register.Request, rows [][]string, opts Options) (*Report, error) {
	if strings.TrimSpace(opts.Source) == "" {
		return nil, fmt.Errorf("%w: the import needs a source (the file's name)", ErrInvalidInput)
	}
	for _, a := range []domain.Action{domain.ActionRegisterRisk, domain.ActionAssessRisk} {
		if err := req.Principal.Authorize(a); err != nil {
			return nil, err
		}
	}
	risks, good, bad, err := Plan(rows, opts, svc, req.Principal.Subject)
	if err != nil {
		return nil, err
	}
	rep := &Report{Rows: len(rows) - 1, DryRun: opts.DryRun, Errors: bad}
	if len(bad) > 0 && !opts.Partial {
		return rep, nil
	}
	imported, err := svc.ImportRisks(ctx, req, risks, opts.DryRun)
	if err != nil {
		return rep, err
	}
	for i := range good {
		good[i].ImportedRisk = imported[i]
		if len(imported[i].Events) > 0 {
			rep.Written = true
		}
	}
	rep.Risks = good
	return rep, nil
}
