package console

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
)

// Geometry of the heat map's SVG, in its own units.
const (
	cellSize = 88
	axisLeft = 64 // room for the likelihood axis
	axisLow  = 56 // room for the impact axis
	axisTop  = 24 // room for the likelihood axis's name
)

// heatCell is one cell of the drawn heat map.
type heatCell struct {
	projection.HeatMapCell
	X, Y   int
	CX, CY int
	Href   template.URL
}

// heatMove is the risks that moved from one cell to another between two
// dates.
type heatMove struct {
	FromL, FromI, ToL, ToI int
	Count                  int
	X1, Y1, X2, Y2         int
	LX, LY                 int // where the count is written
}

// heatData is the heat map page's data.
type heatData struct {
	Q        query
	Kind     domain.RatingKind
	Kinds    []domain.RatingKind
	AsOf     time.Time
	From     time.Time
	Cells    []heatCell
	Total    int
	Moves    []heatMove
	Arrived  int // on the map at AsOf, not at From
	Left     int // on the map at From, not at AsOf
	Width    int
	Height   int
	Ticks    []tick
	Compared bool
}

// tick is a number on an axis.
type tick struct{ X, Y, N int }

// ticks returns the numbers of both axes: impact below the columns,
// likelihood left of the rows.
func ticks() []tick {
	var out []tick
	for n := domain.MinScale; n <= domain.MaxScale; n++ {
		x, _ := cellCenter(1, n)
		_, y := cellCenter(n, 1)
		out = append(out, tick{X: x, Y: axisTop + domain.MaxScale*cellSize + 16, N: n}, tick{X: axisLeft - 14, Y: y, N: n})
	}
	return out
}

// cellCenter returns the middle of cell (l, i).
func cellCenter(l, i int) (int, int) {
	return axisLeft + (i-1)*cellSize + cellSize/2, axisTop + (domain.MaxScale-l)*cellSize + cellSize/2
}

// heatMapPage draws the 5×5 matrix as of a date, with the risks that moved
// since a second date as arrows.
func (c *Console) heatMapPage(w http.ResponseWriter, r *http.Request, _ session) {
	q := query(r.URL.Query())
	asOf, err1 := parseTime(q.Get("asof"))
	from, err2 := parseTime(q.Get("from"))
	if err1 != nil || err2 != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "A date on the heat map is not a date and time.")
		return
	}
	kind := ratingKind(q.Get("kind"))
	d := heatData{Q: q, Kind: kind, Kinds: []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget},
		AsOf: asOf, From: from, Width: axisLeft + domain.MaxScale*cellSize + 8, Height: axisTop + domain.MaxScale*cellSize + axisLow,
		Ticks: ticks()}
	v, err := c.view(r.Context(), asOf)
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	hm, err := v.heatMap(r.Context(), kind)
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	for _, cell := range hm.Cells {
		cx, cy := cellCenter(cell.Likelihood, cell.Impact)
		d.Cells = append(d.Cells, heatCell{HeatMapCell: cell, X: cx - cellSize/2, Y: cy - cellSize/2, CX: cx, CY: cy,
			Href: template.URL("/" + string(query{}.With("kind", string(kind), "l", fmt.Sprint(cell.Likelihood),
				"i", fmt.Sprint(cell.Impact), "asof", q.Get("asof"))))})
		d.Total += cell.Count
	}
	if !from.IsZero() {
		before, after, err := c.compared(r.Context(), kind, from, v)
		if err != nil {
			c.fail(w, r, err, 0, "")
			return
		}
		d.Compared = true
		d.Moves, d.Arrived, d.Left = movement(before, after)
	}
	c.render(w, r, 0, "heatmap", view{Title: "Heat map", Nav: "heatmap", Data: d})
}

// compared returns where the risks stood on the heat map of kind at from
// and where they stand in v. Compared with now, only the risks changed
// since from are read (the others have not moved); two past times compare
// the heat maps of both.
func (c *Console) compared(ctx context.Context, kind domain.RatingKind, from time.Time, v registerView) (before, after map[string]projection.Place, err error) {
	hm, err := c.opt.Reader.At(from).HeatMap(ctx, kind)
	if err != nil {
		return nil, nil, err
	}
	before = hm.Places()
	if v.past != nil {
		hm, err := v.past.HeatMap(ctx, kind)
		return before, hm.Places(), err
	}
	changes, err := v.reader.HeatMapChanges(ctx, kind, from)
	if err != nil {
		return nil, nil, err
	}
	changedBefore, after := make(map[string]projection.Place), make(map[string]projection.Place)
	for id, now := range changes {
		if p, ok := before[id]; ok {
			changedBefore[id] = p
		}
		if now != nil {
			after[id] = *now
		}
	}
	return changedBefore, after, nil
}

// movement compares where the risks stood on two heat maps of the same
// kind: the risks that changed cell, grouped by (from, to) with the largest
// groups first, and how many risks arrived on the map or left it.
func movement(before, after map[string]projection.Place) (moves []heatMove, arrived, left int) {
	groups := make(map[[2]projection.Place]int)
	for id, now := range after {
		prev, ok := before[id]
		switch {
		case !ok:
			arrived++
		case prev != now:
			groups[[2]projection.Place{prev, now}]++
		}
	}
	for id := range before {
		if _, ok := after[id]; !ok {
			left++
		}
	}
	for k, n := range groups {
		m := heatMove{FromL: k[0].Likelihood, FromI: k[0].Impact, ToL: k[1].Likelihood, ToI: k[1].Impact, Count: n}
		m.X1, m.Y1 = cellCenter(m.FromL, m.FromI)
		m.X2, m.Y2 = cellCenter(m.ToL, m.ToI)
		// Stop short of the centres, where the counts are.
		dx, dy := m.X2-m.X1, m.Y2-m.Y1
		m.X1, m.Y1 = m.X1+dx/5, m.Y1+dy/5
		m.X2, m.Y2 = m.X2-dx/5, m.Y2-dy/5
		m.LX, m.LY = (m.X1+m.X2)/2+6, (m.Y1+m.Y2)/2-6
		moves = append(moves, m)
	}
	slices.SortFunc(moves, func(a, b heatMove) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.FromL, b.FromL), cmp.Compare(a.FromI, b.FromI),
			cmp.Compare(a.ToL, b.ToL), cmp.Compare(a.ToI, b.ToI))
	})
	return moves, arrived, left
}
