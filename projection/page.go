package projection

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// MaxPageSize is the largest page a list read returns.
const MaxPageSize = 500

// Page is one page of a list, in the list's order.
type Page[T any] struct {
	Items []T
	// TotalCount is the number of items the list holds, on every page.
	TotalCount int
	// HasNextPage reports whether items follow this page.
	HasNextPage bool
}

// checkFirst checks the page size of a list read.
func checkFirst(first int) error {
	if first < 0 || first > MaxPageSize {
		return fmt.Errorf("%w: first must be between 0 and %d, got %d", ErrInvalidInput, MaxPageSize, first)
	}
	return nil
}

// riskPageArgs checks the arguments of a read of a page of risks and returns
// the key of the cursor, if there is one.
func riskPageArgs(filter RiskFilter, first int, after string) (key riskKey, hasKey bool, err error) {
	if err := checkFirst(first); err != nil {
		return riskKey{}, false, err
	}
	if err := filter.validate(); err != nil {
		return riskKey{}, false, err
	}
	return parseRiskCursor(after)
}

// decisionPageArgs checks the arguments of a read of a page of decisions and
// returns the position of the cursor.
func decisionPageArgs(body domain.Body, first int, after string) (eventstore.Position, error) {
	if err := checkFirst(first); err != nil {
		return eventstore.Position{}, err
	}
	if body != "" && !body.Valid() {
		return eventstore.Position{}, fmt.Errorf("%w: unknown body %q", ErrInvalidInput, body)
	}
	return parseDecisionCursor(after)
}

// RiskFilter selects risks of the register. Its fields combine with AND;
// zero fields select everything.
type RiskFilter struct {
	Band     domain.Band       // the risk's band (residual, else inherent)
	Status   domain.RiskStatus // the risk's status
	Owner    string            // exactly this owner
	Category string            // exactly this category
	Flagged  *bool             // flagged, or not
	// Search matches risks whose reference, title or description contains
	// it, ignoring case.
	Search string
	// ReviewOverdue and AcceptanceLapsed select by the calendar's flags
	// (see CalendarFilter); the register as of a past instant has none.
	CalendarFilter
}

// validate checks the filter's enum values.
func (f RiskFilter) validate() error {
	if f.Band != "" && !f.Band.Valid() {
		return fmt.Errorf("%w: unknown band %q", ErrInvalidInput, f.Band)
	}
	if f.Status != "" && !f.Status.Valid() {
		return fmt.Errorf("%w: unknown risk status %q", ErrInvalidInput, f.Status)
	}
	return nil
}

// needle returns the lower-cased search string, "" for no search.
func (f RiskFilter) needle() string {
	return strings.ToLower(strings.ReplaceAll(f.Search, searchSeparator, ""))
}

// Match reports whether r passes the filter.
func (f RiskFilter) Match(r *Risk) bool {
	switch {
	case f.Band != "" && r.Band != f.Band,
		f.Status != "" && r.Status != f.Status,
		f.Owner != "" && r.Owner != f.Owner,
		f.Category != "" && r.Category != f.Category,
		f.Flagged != nil && r.Flagged != *f.Flagged:
		return false
	}
	return f.Search == "" || strings.Contains(searchText(r), f.needle())
}

// sqlWhere adds the filter's conditions on rm_risks r to q.
func (f RiskFilter) sqlWhere(q *sqlwhere.Builder) {
	if f.Band != "" {
		q.Where("r.band = %s", string(f.Band))
	}
	if f.Status != "" {
		q.Where("r.status = %s", string(f.Status))
	}
	if f.Owner != "" {
		q.Where("r.owner = %s", f.Owner)
	}
	if f.Category != "" {
		q.Where("r.category = %s", f.Category)
	}
	if f.Flagged != nil {
		q.Where("r.flagged = %s", *f.Flagged)
	}
	if f.Search != "" {
		q.Where("r.search_text LIKE %s", "%"+likeEscaper.Replace(f.needle())+"%")
	}
	f.CalendarFilter.sqlWhere(q)
}

// likeEscaper escapes the wildcards of LIKE (with its default escape, \).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// riskKey is a risk's place in the register's order: by reference, shorter
// first (R-0002, R-0010, R-10000), then by id.
type riskKey struct {
	reference string
	id        string
}

func keyOf(r *Risk) riskKey { return riskKey{reference: r.Reference, id: r.ID} }

// compare orders keys like the SQL ORDER BY length(reference), reference,
// risk_id (both columns COLLATE "C", that is byte order).
func (k riskKey) compare(o riskKey) int {
	return cmp.Or(
		cmp.Compare(utf8.RuneCountInString(k.reference), utf8.RuneCountInString(o.reference)),
		strings.Compare(k.reference, o.reference),
		strings.Compare(k.id, o.id))
}

// Cursor returns the risk's cursor in the register's order, for the after
// argument of a list read.
func (r Risk) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(r.Reference + "\x00" + r.ID))
}

// parseRiskCursor parses what Risk.Cursor returns; "" is the start.
func parseRiskCursor(s string) (key riskKey, ok bool, err error) {
	if s == "" {
		return riskKey{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	ref, id, found := strings.Cut(string(b), "\x00")
	if err != nil || !found {
		return riskKey{}, false, fmt.Errorf("%w: malformed risk cursor %q", ErrInvalidInput, s)
	}
	return riskKey{reference: ref, id: id}, true, nil
}

// Cursor returns the decision's cursor in log order, for the after argument
// of a list read.
func (d Decision) Cursor() string { return d.Position.String() }

// parseDecisionCursor parses what Decision.Cursor returns; "" is the start.
func parseDecisionCursor(s string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("%w: malformed decision cursor %q", ErrInvalidInput, s)
	}
	return p, nil
}
