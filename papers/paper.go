// Package papers makes the papers of a session: what the secretariat hands
// to a body's members. A paper is built from the event log as it stood at
// the session's cut-off (the end of the session's day, UTC) and rendered as
// XLSX, PDF or CSV. It is reproducible: the same session and the same log
// position give the same bytes, and it states that position (and, where
// the log is signed, the signed checkpoint it was made from).
package papers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// Paper is a session's paper, ready to render: sections of tables.
type Paper struct {
	SessionID string
	Title     string // e.g. "Council, 141st Session"
	Body      domain.Body
	Date      domain.Date
	CutOff    time.Time
	// Position is the log position of the last event the paper shows.
	Position string
	// Checkpoint is the signed checkpoint of the log the paper was made
	// from; "" when the log is not signed.
	Checkpoint string
	// Sections are the paper's tables, in order: summary, heat maps,
	// movement, tabled items, decisions of the previous session.
	Sections []Section
}

// Section is one table of a paper.
type Section struct {
	Name   string // also the XLSX sheet name: at most 31 characters
	Title  string
	Header []string
	Rows   [][]string
	// HeatMap marks a 5 x 5 heat map: rows are likelihood 5..1, columns
	// impact 1..5 after the first.
	HeatMap bool
}

// Format is a paper's file format.
type Format string

// The formats.
const (
	FormatXLSX Format = "xlsx"
	FormatPDF  Format = "pdf"
	FormatCSV  Format = "csv"
)

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatXLSX, FormatPDF, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("%w: unknown paper format %q (xlsx, pdf or csv)", ErrInvalidInput, s)
}

// ContentType returns the MIME type of f.
func (f Format) ContentType() string {
	switch f {
	case FormatXLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case FormatPDF:
		return "application/pdf"
	}
	return "text/csv; charset=utf-8"
}

var (
	// ErrInvalidInput is matched by errors about a bad request: an unknown
	// format.
	ErrInvalidInput = errors.New("papers: invalid input")
	// ErrNoSession is matched when the session does not exist.
	ErrNoSession = errors.New("papers: no such session")
)

// CheckpointFunc returns the signed checkpoint of the log that covers pos,
// "" when the log is not signed.
type CheckpointFunc func(ctx context.Context, pos eventstore.Position) (string, error)

// Builder builds papers from the log and the read models.
type Builder struct {
	Store    *eventstore.Store
	Reader   *projection.Reader
	Register *register.Service
	// Checkpoint, when not nil, names the signed checkpoint the paper was
	// made from.
	Checkpoint CheckpointFunc
	// Wait bounds how long Build waits for the read models to reach the
	// paper's log position. Default DefaultWait.
	Wait time.Duration
}

// DefaultWait is how long Build waits for the read models by default.
const DefaultWait = 30 * time.Second

// Build builds the paper of session id.
func (b *Builder) Build(ctx context.Context, id string) (*Paper, error) {
	sessions, err := b.Reader.SessionsByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	s, ok := sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSession, id)
	}
	prev, hasPrev, err := b.Reader.PreviousSession(ctx, s)
	if err != nil {
		return nil, err
	}
	// The paper shows the log up to the cut-off: the position of its last
	// event, read from the temporal read models once the projections have
	// passed it, so that a paper costs what the register costs, not the log.
	pos, err := b.Store.PositionAt(ctx, s.CutOff())
	if err != nil {
		return nil, err
	}
	wait := b.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	err = b.Reader.WaitFor(wctx, pos)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("papers: the read models did not reach the log position %s within %s (are the projections running?): %w", pos, wait, err)
	}
	now := b.Reader.At(s.CutOff())
	p := &Paper{SessionID: s.ID, Title: s.Title, Body: s.Body, Date: s.Date, CutOff: s.CutOff(), Position: pos.String()}
	if b.Checkpoint != nil {
		if p.Checkpoint, err = b.Checkpoint(ctx, pos); err != nil {
			return nil, err
		}
	}
	risks, err := now.AllRisks(ctx)
	if err != nil {
		return nil, err
	}
	var prevDecisions []projection.Decision
	if hasPrev {
		if prevDecisions, err = now.DecisionsOfSession(ctx, prev.ID); err != nil {
			return nil, err
		}
	}
	p.Sections = append(p.Sections, summary(p, s, prev, hasPrev, risks, len(prevDecisions)))
	for _, kind := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual} {
		hm, err := now.HeatMapCounts(ctx, kind)
		if err != nil {
			return nil, err
		}
		p.Sections = append(p.Sections, heatMapSection(hm))
	}
	mv, err := b.movement(ctx, risks, prev, hasPrev)
	if err != nil {
		return nil, err
	}
	p.Sections = append(p.Sections, mv)
	items, err := b.items(ctx, s, now)
	if err != nil {
		return nil, err
	}
	p.Sections = append(p.Sections, items...)
	dec, err := b.decisionsSection(ctx, prevDecisions, now, pos, risks)
	if err != nil {
		return nil, err
	}
	p.Sections = append(p.Sections, dec)
	return p, nil
}

func summary(p *Paper, s, prev projection.Session, hasPrev bool, risks []projection.Risk, decisions int) Section {
	count := map[string]int{}
	for _, r := range risks {
		if r.Status.Terminal() {
			continue
		}
		count["open"]++
		count[string(r.Band)]++
		if r.Flagged {
			count["flagged"]++
		}
		if r.Status == domain.RiskStatusTolerated {
			count["tolerated"]++
		}
	}
	previous := "none"
	if hasPrev {
		previous = fmt.Sprintf("%s (%s)", prev.Title, prev.Date)
	}
	checkpoint := p.Checkpoint
	if checkpoint == "" {
		checkpoint = "none (the log is not signed)"
	}
	n := strconv.Itoa
	return Section{Name: "Summary", Title: p.Title, Header: []string{"Item", "Value"}, Rows: [][]string{
		{"Session", s.Title},
		{"Body", string(s.Body)},
		{"Date", s.Date.String()},
		{"Session id", s.ID},
		{"Register as of", p.CutOff.UTC().Format(time.RFC3339)},
		{"Log position", p.Position},
		{"Signed checkpoint", checkpoint},
		{"Previous session", previous},
		{"Risks on the register", n(count["open"])},
		{"RED", n(count[string(domain.BandRed)])},
		{"AMBER", n(count[string(domain.BandAmber)])},
		{"GREEN", n(count[string(domain.BandGreen)])},
		{"Not yet assessed", n(count[""])},
		{"Flagged by the Audit Committee", n(count["flagged"])},
		{"Tolerated by the Council", n(count["tolerated"])},
		{"Items tabled", n(len(s.Items))},
		{"Decisions of the previous session", n(decisions)},
	}}
}

func heatMapSection(hm projection.HeatMap) Section {
	name := "Heat map " + titleCase(string(hm.Kind))
	sec := Section{Name: name, Title: name + " (likelihood down, impact across)", HeatMap: true,
		Header: []string{"Likelihood \\ Impact", "1", "2", "3", "4", "5"}}
	for l := 5; l >= 1; l-- {
		row := []string{strconv.Itoa(l)}
		for i := 1; i <= 5; i++ {
			for _, c := range hm.Cells {
				if c.Likelihood == l && c.Impact == i {
					row = append(row, strconv.Itoa(c.Count))
				}
			}
		}
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

// titleCase returns "Inherent" for "INHERENT".
func titleCase(s string) string {
	if s == "" {
		return s
	}
	out := []byte(s)
	for i := 1; i < len(out); i++ {
		if out[i] >= 'A' && out[i] <= 'Z' {
			out[i] += 'a' - 'A'
		}
	}
	return string(out)
}

// score returns a risk's score and band ("" when not rated).
func score(r projection.Risk) (int, domain.Band) {
	for _, rating := range []*projection.Rating{r.Residual, r.Inherent} {
		if rating != nil {
			return rating.Score(), rating.Band()
		}
	}
	return 0, ""
}

// movement returns the risks whose score or status moved between the
// previous session's cut-off and this one's (every risk is NEW when there
// was no previous session): the register at both instants, read from the
// temporal read models.
func (b *Builder) movement(ctx context.Context, risks []projection.Risk, prev projection.Session, hasPrev bool) (Section, error) {
	sec := Section{Name: "Movement", Title: "Movement of risks since the previous session",
		Header: []string{"Reference", "Title", "Change", "Score before", "Band before", "Score now", "Band now", "Status before", "Status now"}}
	before := map[string]projection.Risk{}
	if hasPrev {
		then, err := b.Reader.At(prev.CutOff()).AllRisks(ctx)
		if err != nil {
			return Section{}, err
		}
		for _, r := range then {
			before[r.ID] = r
		}
	}
	for _, r := range risks {
		was, existed := before[r.ID]
		scoreNow, bandNow := score(r)
		var change string
		var scoreBefore, bandBefore, statusBefore string
		if !existed {
			change = "NEW"
		} else {
			s, b := score(was)
			scoreBefore, bandBefore, statusBefore = strconv.Itoa(s), string(b), string(was.Status)
			switch {
			case scoreNow > s:
				change = "UP"
			case scoreNow < s:
				change = "DOWN"
			case was.Status != r.Status:
				change = "STATUS"
			default:
				continue
			}
		}
		sec.Rows = append(sec.Rows, []string{r.Reference, r.Title, change, scoreBefore, bandBefore,
			strconv.Itoa(scoreNow), string(bandNow), statusBefore, string(r.Status)})
	}
	return sec, nil
}

// ratingText renders a rating as "4 x 5 = 20 RED".
func ratingText(r *projection.Rating) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d x %d = %d %s", r.Likelihood, r.Impact, r.Score(), r.Band())
}

// items returns the tabled items' section and the history of each.
func (b *Builder) items(ctx context.Context, s projection.Session, now *projection.Past) ([]Section, error) {
	sec := Section{Name: "Tabled items", Title: "Items tabled for the session",
		Header: []string{"Reference", "Kind", "Title", "Version tabled", "Version at cut-off", "Note", "Status", "Inherent", "Residual", "Target", "Responses"}}
	hist := Section{Name: "History", Title: "History of the tabled items up to the cut-off",
		Header: []string{"Reference", "Version", "Event", "Occurred", "Actor"}}
	for _, it := range s.Items {
		riskID := it.SubjectID
		var title, status string
		if it.Kind == domain.SubjectKindResponse {
			resp, err := b.Register.Response(ctx, it.SubjectID, register.AsOf{Version: it.VersionTabled})
			if err != nil {
				return nil, err
			}
			riskID, title, status = resp.RiskID(), resp.Title(), string(resp.Status())
		}
		found, err := now.RisksByID(ctx, []string{riskID})
		if err != nil {
			return nil, err
		}
		risk, ok := found[riskID]
		if !ok {
			continue // registered after the cut-off
		}
		if it.Kind == domain.SubjectKindRisk {
			tabled, err := b.Register.Risk(ctx, it.SubjectID, register.AsOf{Version: it.VersionTabled})
			if err != nil {
				return nil, err
			}
			title, status = tabled.Title(), string(tabled.Status())
		}
		responsesNow, err := now.ResponsesByRisk(ctx, []string{riskID})
		if err != nil {
			return nil, err
		}
		var responses []string
		for _, resp := range responsesNow[riskID] {
			line := fmt.Sprintf("%s (%s, %s", resp.Title, resp.Option, resp.Status)
			if !resp.DueDate.IsZero() {
				line += ", due " + resp.DueDate.String()
			}
			responses = append(responses, line+")")
		}
		events, err := b.Store.ReadStream(ctx, it.SubjectID, eventstore.ReadStreamOptions{RecordedUntil: now.Time()})
		if err != nil {
			return nil, err
		}
		versionNow := 0
		if len(events) > 0 {
			versionNow = int(events[len(events)-1].Version)
		}
		acts, err := b.Store.ReadStream(ctx, domain.CalendarStreamID(it.SubjectID), eventstore.ReadStreamOptions{RecordedUntil: now.Time()})
		if err != nil {
			return nil, err
		}
		sec.Rows = append(sec.Rows, []string{risk.Reference, string(it.Kind), title, strconv.Itoa(it.VersionTabled),
			strconv.Itoa(versionNow), it.Note, status, ratingText(risk.Inherent), ratingText(risk.Residual), ratingText(risk.Target),
			joinLines(responses)})
		all := append(events, acts...)
		slices.SortStableFunc(all, func(x, y eventstore.RecordedEvent) int { return x.Position.Compare(y.Position) })
		for _, e := range all {
			version := strconv.FormatInt(e.Version, 10)
			if e.StreamType == domain.StreamCalendar {
				version = "" // an act of time, on the subject's calendar stream
			}
			hist.Rows = append(hist.Rows, []string{risk.Reference, version, e.Type, e.OccurredAt.UTC().Format(time.DateOnly), e.Metadata.Actor})
		}
	}
	return []Section{sec, hist}, nil
}

// decisionsSection returns the decisions of the previous session and their
// effects up to the log position the paper shows.
func (b *Builder) decisionsSection(ctx context.Context, decisions []projection.Decision, now *projection.Past, pos eventstore.Position, risks []projection.Risk) (Section, error) {
	sec := Section{Name: "Previous decisions", Title: "Decisions of the previous session and their effects",
		Header: []string{"Kind", "Text", "Subjects", "Effective", "Expires", "Effects"}}
	ids := make([]string, len(decisions))
	var named []string
	for i, d := range decisions {
		ids[i] = d.ID
		for _, s := range d.Subjects {
			named = append(named, s.ID)
		}
	}
	effects, err := b.Reader.Effects(ctx, ids)
	if err != nil {
		return Section{}, err
	}
	for _, fx := range effects {
		for _, e := range fx {
			named = append(named, e.StreamID)
		}
	}
	responses, err := now.ResponsesByID(ctx, named)
	if err != nil {
		return Section{}, err
	}
	refs := make(map[string]string, len(risks))
	for _, r := range risks {
		refs[r.ID] = r.Reference
	}
	name := func(id string) string {
		if ref, ok := refs[id]; ok {
			return ref
		}
		if resp, ok := responses[id]; ok {
			return fmt.Sprintf("%s (response to %s)", resp.Title, refs[resp.RiskID])
		}
		return id
	}
	for _, d := range decisions {
		var subjects, fx []string
		for _, s := range d.Subjects {
			subjects = append(subjects, fmt.Sprintf("%s at version %d", name(s.ID), s.VersionSeen))
		}
		for _, e := range effects[d.ID] {
			if e.Position.Compare(pos) > 0 {
				break // after the cut-off
			}
			fx = append(fx, fmt.Sprintf("%s on %s", e.Type, name(e.StreamID)))
		}
		sec.Rows = append(sec.Rows, []string{string(d.Kind), d.Text, joinLines(subjects), d.EffectiveDate.String(),
			d.ExpiresOn.String(), joinLines(fx)})
	}
	return sec, nil
}

// joinLines joins lines with line breaks.
func joinLines(lines []string) string { return strings.Join(lines, "\n") }
