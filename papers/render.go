package papers

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/xuri/excelize/v2"
)

// Render writes p in format f.
func Render(w io.Writer, p *Paper, f Format) error {
	switch f {
	case FormatXLSX:
		return WriteXLSX(w, p)
	case FormatPDF:
		return WritePDF(w, p)
	case FormatCSV:
		return WriteCSV(w, p)
	}
	return fmt.Errorf("%w: unknown paper format %q", ErrInvalidInput, f)
}

// docTime is the time every document property states: the cut-off, never
// the wall clock, so that the bytes depend on the session and the log only.
func docTime(p *Paper) time.Time { return p.CutOff.UTC() }

// WriteCSV writes p as one CSV table: each row starts with its section's
// name; each section starts with its header row.
func WriteCSV(w io.Writer, p *Paper) error {
	cw := csv.NewWriter(w)
	for _, s := range p.Sections {
		if err := cw.Write(append([]string{"section"}, s.Header...)); err != nil {
			return fmt.Errorf("papers: csv: %w", err)
		}
		for _, row := range s.Rows {
			if err := cw.Write(append([]string{s.Name}, csvSafe(row)...)); err != nil {
				return fmt.Errorf("papers: csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("papers: csv: %w", err)
	}
	return nil
}

// csvSafe quotes cells a spreadsheet would take for formulas (CSV
// injection): a leading =, +, - or @ gets a leading apostrophe.
func csvSafe(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		if c != "" && (c[0] == '=' || c[0] == '+' || c[0] == '-' || c[0] == '@') {
			if _, err := strconv.ParseFloat(c, 64); err != nil {
				c = "'" + c
			}
		}
		out[i] = c
	}
	return out
}

// WriteXLSX writes p as a workbook with one sheet per section. Cells are
// text (never formulas), numbers where the value is a number.
func WriteXLSX(w io.Writer, p *Paper) error {
	f := excelize.NewFile()
	defer f.Close()
	created := docTime(p).Format(time.RFC3339)
	if err := f.SetDocProps(&excelize.DocProperties{Title: p.Title, Subject: "Session paper " + p.SessionID,
		Creator: "riskreg", LastModifiedBy: "riskreg", Created: created, Modified: created,
		Description: "Log position " + p.Position, Keywords: p.Checkpoint, Language: "en"}); err != nil {
		return fmt.Errorf("papers: xlsx: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("papers: xlsx: %w", err)
	}
	wrap, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		return fmt.Errorf("papers: xlsx: %w", err)
	}
	for i, s := range p.Sections {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.Name); err != nil {
				return fmt.Errorf("papers: xlsx: %w", err)
			}
		} else if _, err := f.NewSheet(s.Name); err != nil {
			return fmt.Errorf("papers: xlsx: %w", err)
		}
		if err := writeSheet(f, s, bold, wrap); err != nil {
			return fmt.Errorf("papers: xlsx sheet %s: %w", s.Name, err)
		}
	}
	f.SetActiveSheet(0)
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return fmt.Errorf("papers: xlsx: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// writeSheet writes a section to its sheet: the title, the header row,
// then the rows, a row at a time. Cells are text, or numbers in the columns
// that count; never formulas.
func writeSheet(f *excelize.File, s Section, bold, wrap int) error {
	for c := range s.Header {
		col, err := excelize.ColumnNumberToName(c + 1)
		if err != nil {
			return err
		}
		width := 14.0
		if !s.HeatMap && c > 0 {
			width = 28
		}
		if err := f.SetColWidth(s.Name, col, col, width); err != nil {
			return err
		}
		if err := f.SetColStyle(s.Name, col, wrap); err != nil {
			return err
		}
	}
	if err := f.SetCellStr(s.Name, "A1", s.Title); err != nil {
		return err
	}
	header := make([]any, len(s.Header))
	for c, h := range s.Header {
		header[c] = h
	}
	if err := f.SetSheetRow(s.Name, "A2", &header); err != nil {
		return err
	}
	last, err := excelize.CoordinatesToCellName(max(len(s.Header), 1), 2)
	if err != nil {
		return err
	}
	if err := f.SetCellStyle(s.Name, "A1", last, bold); err != nil {
		return err
	}
	for r, row := range s.Rows {
		values := make([]any, len(row))
		for c, v := range row {
			if n, err := strconv.Atoi(v); err == nil && (s.HeatMap || isCount(s, c)) {
				values[c] = n
				continue
			}
			values[c] = v
		}
		cell, err := excelize.CoordinatesToCellName(1, r+3)
		if err != nil {
			return err
		}
		if err := f.SetSheetRow(s.Name, cell, &values); err != nil {
			return err
		}
	}
	return nil
}

// isCount reports whether column c of s holds counts (the summary's
// values are text: some are numbers, some not).
func isCount(s Section, c int) bool {
	if c >= len(s.Header) {
		return false
	}
	switch s.Header[c] {
	case "Version tabled", "Version at cut-off", "Score before", "Score now", "Version":
		return true
	}
	return false
}

// WritePDF writes p as an A4 landscape PDF: a page per section.
func WritePDF(w io.Writer, p *Paper) error {
	pdf := fpdf.New("L", "mm", "A4", "")
	pdf.SetCreationDate(docTime(p))
	pdf.SetModificationDate(docTime(p))
	pdf.SetCatalogSort(true)
	pdf.SetCompression(true)
	pdf.SetTitle(p.Title, true)
	pdf.SetSubject("Session paper "+p.SessionID+", log position "+p.Position, true)
	pdf.SetCreator("riskreg", true)
	pdf.SetAuthor("riskreg", true)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 7)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("%s - register as of %s - log position %s - page %d",
			p.Title, docTime(p).Format(time.RFC3339), p.Position, pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	for _, s := range p.Sections {
		pdf.AddPage()
		pdf.SetFont("Helvetica", "B", 13)
		pdf.CellFormat(0, 8, tr(s.Title), "", 1, "L", false, 0, "")
		pdf.Ln(2)
		pdfTable(pdf, tr, s)
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("papers: pdf: %w", err)
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("papers: pdf: %w", err)
	}
	return nil
}

// heatColour is the fill of a heat map cell of likelihood l and impact i.
func heatColour(l, i int) (r, g, b int) {
	switch score := l * i; {
	case score >= 15:
		return 230, 120, 110
	case score >= 8:
		return 245, 200, 110
	default:
		return 150, 210, 150
	}
}

// byteRunes returns s, text in the core fonts' single-byte encoding (what
// the translator gives), with one rune per byte: SplitText measures runes
// against the font's 256 widths, and a byte above 127 is not UTF-8.
func byteRunes(s string) string {
	r := make([]rune, len(s))
	for i := range len(s) {
		r[i] = rune(s[i])
	}
	return string(r)
}

// pdfRows is the most rows a PDF table shows: the PDF is for reading at
// the meeting; the XLSX and CSV papers have every row.
const pdfRows = 200

func pdfTable(pdf *fpdf.Fpdf, tr func(string) string, s Section) {
	pageW, _ := pdf.GetPageSize()
	left, _, right, _ := pdf.GetMargins()
	width := (pageW - left - right) / float64(max(len(s.Header), 1))
	if s.HeatMap {
		width = 25
	}
	pdf.SetFont("Helvetica", "B", 8)
	for _, h := range s.Header {
		pdf.CellFormat(width, 7, tr(h), "1", 0, "C", false, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetFont("Helvetica", "", 8)
	rows := s.Rows
	if len(rows) > pdfRows {
		rows = rows[:pdfRows]
	}
	for r, row := range rows {
		if s.HeatMap {
			for c, v := range row {
				fill := false
				if c > 0 {
					cr, cg, cb := heatColour(5-r, c)
					pdf.SetFillColor(cr, cg, cb)
					fill = true
				}
				pdf.CellFormat(width, 12, v, "1", 0, "C", fill, 0, "")
			}
			pdf.Ln(-1)
			continue
		}
		lines := 1
		for _, v := range row {
			lines = max(lines, len(pdf.SplitText(byteRunes(tr(v)), width-2)))
		}
		height := float64(lines) * 4.5
		_, pageH := pdf.GetPageSize()
		if pdf.GetY()+height > pageH-18 {
			pdf.AddPage()
		}
		x, y := pdf.GetXY()
		for c, v := range row {
			pdf.Rect(x+float64(c)*width, y, width, height, "D")
			pdf.SetXY(x+float64(c)*width, y)
			pdf.MultiCell(width, 4.5, tr(v), "", "L", false)
		}
		pdf.SetXY(x, y+height)
	}
	if len(s.Rows) > len(rows) {
		pdf.Ln(2)
		pdf.SetFont("Helvetica", "I", 8)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("... and %d more rows: see the XLSX or CSV paper.", len(s.Rows)-len(rows))), "", 1, "L", false, 0, "")
	}
}
