package projection

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Risk is a risk of the register as it stood after one event of its
// stream: the domain's state of the risk (folded by domain.Risk.Apply) and
// what the log adds to it.
type Risk struct {
	domain.RiskState
	// Band is the band of the residual rating if set, else of the inherent
	// one, else "".
	Band      domain.Band
	CreatedAt time.Time // recordedAt of the stream's first event
	UpdatedAt time.Time // recordedAt of its last event
}

// Rating is one of a risk's three ratings.
type Rating = domain.RatingState

// ratingKinds are the kinds of rating in the order of the heat maps.
var ratingKinds = []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget}

// onHeatMap reports whether the risk counts on the heat maps: every risk
// that is not CLOSED or WITHDRAWN. (View rm_heat_map says the same in SQL.)
func (r *Risk) onHeatMap() bool { return !r.Status.Terminal() }

// applyRisk folds one event of a risk stream into r, which is nil before the
// RiskRegistered event, with the domain's own domain.Risk.Apply.
func applyRisk(r *Risk, e eventstore.RecordedEvent, d domain.Event) (*Risk, error) {
	if r == nil {
		a, err := domain.RiskFromHistory(e.StreamID, []domain.Event{d})
		if err != nil {
			return nil, err
		}
		next := RiskFromAggregate(a, e.RecordedAt, e.RecordedAt)
		return &next, nil
	}
	a := domain.RiskFromState(r.RiskState)
	if err := a.Apply(d); err != nil {
		return nil, err
	}
	*r = RiskFromAggregate(a, r.CreatedAt, e.RecordedAt)
	return r, nil
}

// RiskFromAggregate returns the read model of a risk folded by the domain,
// whose stream's first and last events were recorded at created and
// updated.
func RiskFromAggregate(a *domain.Risk, created, updated time.Time) Risk {
	band, _ := a.Band()
	return Risk{RiskState: a.State(), Band: band, CreatedAt: created, UpdatedAt: updated}
}

// searchSeparator stands between the fields of a risk's search text; it is
// removed from search strings, so that no match spans two fields.
const searchSeparator = "\x1f"

// searchText is what a search string is matched against: the reference,
// title and description, lower-cased.
func searchText(r *Risk) string {
	return strings.ToLower(r.Reference + searchSeparator + r.Title + searchSeparator + r.Description)
}

// riskColumns are the columns scanRisk reads, in rm_risks_gen and rm_risks.
const riskColumns = `risk_id, reference, title, description, category, source, owner, status, inherent, residual, target,
	band, flagged, tolerated_until, version, created_at, updated_at`

// riskCopyColumns are the columns riskRow writes to rm_risks_gen.
var riskCopyColumns = []string{"slot", "generation", "risk_id", "reference", "title", "description", "category", "source",
	"owner", "status", "inherent", "residual", "target", "inherent_likelihood", "inherent_impact",
	"residual_likelihood", "residual_impact", "target_likelihood", "target_impact", "band", "flagged",
	"tolerated_until", "version", "created_at", "updated_at", "search_text"}

// riskScanner scans rows of riskColumns.
type riskScanner struct {
	r                          Risk
	inherent, residual, target []byte
	band                       pgtype.Text
	until                      pgtype.Date
}

// dest returns the scan destinations of riskColumns.
func (s *riskScanner) dest() []any {
	r := &s.r
	return []any{&r.ID, &r.Reference, &r.Title, &r.Description, &r.Category, &r.Source, &r.Owner, &r.Status,
		&s.inherent, &s.residual, &s.target, &s.band, &r.Flagged, &s.until, &r.Version, &r.CreatedAt, &r.UpdatedAt}
}

// risk returns the risk of the row scanned last.
func (s *riskScanner) risk() (*Risk, error) {
	r := s.r
	for _, f := range []struct {
		data []byte
		dst  **Rating
	}{{s.inherent, &r.Inherent}, {s.residual, &r.Residual}, {s.target, &r.Target}} {
		*f.dst = nil
		if f.data == nil {
			continue
		}
		*f.dst = new(Rating)
		if err := json.Unmarshal(f.data, *f.dst); err != nil {
			return nil, fmt.Errorf("rating of risk %s: %w", r.ID, err)
		}
	}
	r.Band = domain.Band(s.band.String)
	r.ToleratedUntil = fromPgDate(s.until)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// scanRisk reads a row of riskColumns.
func scanRisk(row pgx.CollectableRow) (*Risk, error) {
	var s riskScanner
	if err := row.Scan(s.dest()...); err != nil {
		return nil, err
	}
	return s.risk()
}

// riskRow returns the values of riskCopyColumns for r in generation gen.
func riskRow(gen int64, r *Risk) ([]any, error) {
	row := make([]any, 0, len(riskCopyColumns))
	row = append(row, slotOf(gen), gen, r.ID, r.Reference, r.Title, r.Description, r.Category, r.Source, r.Owner,
		string(r.Status))
	ratings := []*Rating{r.Inherent, r.Residual, r.Target}
	for _, rating := range ratings {
		if rating == nil {
			row = append(row, nil)
			continue
		}
		b, err := marshalRating(rating)
		if err != nil {
			return nil, fmt.Errorf("projection: rating of risk %s: %w", r.ID, err)
		}
		row = append(row, b)
	}
	for _, rating := range ratings {
		if rating == nil {
			row = append(row, nil, nil)
			continue
		}
		row = append(row, int16(rating.Likelihood), int16(rating.Impact))
	}
	var band any
	if r.Band != "" {
		band = string(r.Band)
	}
	return append(row, band, r.Flagged, toPgDate(r.ToleratedUntil), int64(r.Version), r.CreatedAt, r.UpdatedAt,
		searchText(r)), nil
}

// marshalRating returns what json.Marshal returns for r, byte for byte;
// without reflection when its strings need no escaping and its time is an
// ordinary one (a rebuild writes a rating with every version of a risk).
func marshalRating(r *Rating) ([]byte, error) {
	_, offset := r.AssessedAt.Zone()
	if year := r.AssessedAt.Year(); year < 0 || year > 9999 || offset%60 != 0 || !plainJSON(r.Rationale) || !plainJSON(r.AssessedBy) {
		return json.Marshal(r)
	}
	b := make([]byte, 0, 112+len(r.Rationale)+len(r.AssessedBy))
	b = append(b, `{"likelihood":`...)
	b = strconv.AppendInt(b, int64(r.Likelihood), 10)
	b = append(b, `,"impact":`...)
	b = strconv.AppendInt(b, int64(r.Impact), 10)
	b = append(b, `,"rationale":"`...)
	b = append(b, r.Rationale...)
	b = append(b, `","assessedBy":"`...)
	b = append(b, r.AssessedBy...)
	b = append(b, `","assessedAt":"`...)
	b = r.AssessedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// plainJSON reports whether json.Marshal writes s as it is, between quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Risks returns the projection that keeps the risk register (rm_risks, and
// the heat maps in view rm_heat_map).
func Risks() Projection {
	p := &streamProjection[Risk]{
		name: NameRisks,
		streamModel: streamModel[Risk]{
			streamType: domain.StreamRisk,
			table:      "rm_risks_gen",
			key:        "risk_id",
			columns:    riskColumns,
			scan:       scanRisk,
			id:         func(r *Risk) string { return r.ID },
			version:    func(r *Risk) int { return r.Version },
			apply:      applyRisk,
		},
		tables: []table{{"rm_risks_gen", riskCopyColumns}},
		more:   []string{"rm_risk_history_gen", "rm_risk_groups_gen", "rm_risk_counts_gen"},
		rows: func(gen int64, r *Risk) ([][][]any, error) {
			row, err := riskRow(gen, r)
			return [][][]any{{row}}, err
		},
	}
	p.history = &historyModel[Risk]{
		table: "rm_risk_history_gen", key: "risk_id", columns: slices.Concat(riskCopyColumns, historyColumns),
		row: riskRow, counters: riskCounters,
	}
	return p
}

// riskCounters returns the counters a risk counts in: its group of the
// register's filters, and its heat-map cells unless it is CLOSED or
// WITHDRAWN.
func riskCounters(r *Risk) []counterKey {
	g := &riskGroup{band: string(r.Band), status: string(r.Status), flagged: r.Flagged, owner: r.Owner, category: r.Category}
	keys := []counterKey{{key: g.counter(), group: g}}
	if r.onHeatMap() {
		for _, kind := range ratingKinds {
			if rating := r.Rating(kind); rating != nil {
				keys = append(keys, counterKey{key: cellCounter(kind, rating.Likelihood, rating.Impact)})
			}
		}
	}
	return keys
}

// counter returns the name of the group's counter.
func (g *riskGroup) counter() string {
	return "g" + strings.Join([]string{g.band, g.status, strconv.FormatBool(g.flagged), g.owner, g.category}, searchSeparator)
}

// cellCounter returns the name of the counter of a heat-map cell.
func cellCounter(kind domain.RatingKind, likelihood, impact int) string {
	return "c" + string(kind) + ":" + strconv.Itoa(likelihood) + ":" + strconv.Itoa(impact)
}

// toPgDate returns d for a date column: nil for the zero Date.
func toPgDate(d domain.Date) any {
	if d.IsZero() {
		return nil
	}
	return d.Time()
}

// fromPgDate returns the date of a date column.
func fromPgDate(d pgtype.Date) domain.Date {
	if !d.Valid {
		return domain.Date{}
	}
	return domain.DateOf(d.Time.UTC())
}
