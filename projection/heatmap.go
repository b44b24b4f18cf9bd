package projection

import "github.com/riskreg/riskreg/domain"

// HeatMap counts the risks in each cell of the 5 x 5 matrix for one kind of
// rating. Risks that are CLOSED or WITHDRAWN are not on it.
type HeatMap struct {
	Kind domain.RatingKind
	// Cells holds all 25 cells, by likelihood, then impact, from 1x1 to 5x5.
	Cells []HeatMapCell
}

// HeatMapCell is one cell of a heat map.
type HeatMapCell struct {
	Likelihood int
	Impact     int
	Band       domain.Band
	Count      int
	// RiskIDs are the ids of the risks in the cell, in the register's order.
	RiskIDs []string
}

// newHeatMap returns a heat map of kind with 25 empty cells.
func newHeatMap(kind domain.RatingKind) HeatMap {
	h := HeatMap{Kind: kind, Cells: make([]HeatMapCell, 0, domain.MaxScale*domain.MaxScale)}
	for l := domain.MinScale; l <= domain.MaxScale; l++ {
		for i := domain.MinScale; i <= domain.MaxScale; i++ {
			h.Cells = append(h.Cells, HeatMapCell{Likelihood: l, Impact: i, Band: domain.BandOf(l * i), RiskIDs: []string{}})
		}
	}
	return h
}

// cell returns the cell of likelihood l and impact i, nil when that is off
// the matrix.
func (h *HeatMap) cell(l, i int) *HeatMapCell {
	if l < domain.MinScale || l > domain.MaxScale || i < domain.MinScale || i > domain.MaxScale {
		return nil
	}
	return &h.Cells[(l-domain.MinScale)*domain.MaxScale+(i-domain.MinScale)]
}
