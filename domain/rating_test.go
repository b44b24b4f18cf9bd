package domain

import (
	"testing"
	"time"
)

func TestRatingBands(t *testing.T) {
	// The 25 cells of the matrix, likelihood down, impact across, with the
	// band each must have: GREEN <= 6, AMBER 8..12, RED >= 15.
	const (
		G = BandGreen
		A = BandAmber
		R = BandRed
	)
	want := [5][5]Band{
		//  1  2  3  4  5   impact
		{G, G, G, G, G}, // likelihood 1: 1 2 3 4 5
		{G, G, G, A, A}, // likelihood 2: 2 4 6 8 10
		{G, G, A, A, R}, // likelihood 3: 3 6 9 12 15
		{G, A, A, R, R}, // likelihood 4: 4 8 12 16 20
		{G, A, R, R, R}, // likelihood 5: 5 10 15 20 25
	}
	for l := 1; l <= 5; l++ {
		for i := 1; i <= 5; i++ {
			r, err := NewRating(l, i, "why", "alice", t0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Score() != l*i || r.Band() != want[l-1][i-1] || BandOf(l*i) != want[l-1][i-1] {
				t.Errorf("%dx%d: score %d band %s, want %d %s", l, i, r.Score(), r.Band(), l*i, want[l-1][i-1])
			}
		}
	}
}

func TestBandOfEdges(t *testing.T) {
	for score, want := range map[int]Band{
		-1: BandGreen, 0: BandGreen, 1: BandGreen, 6: BandGreen, 7: BandAmber, 8: BandAmber, 12: BandAmber,
		13: BandRed, 14: BandRed, 15: BandRed, 25: BandRed, 26: BandRed,
	} {
		if got := BandOf(score); got != want {
			t.Errorf("BandOf(%d) = %s, want %s", score, got, want)
		}
	}
}

func TestNewRating(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	r, err := NewRating(4, 3, "seen in 2025", "alice", t0.In(cet))
	assertError(t, err, nil)
	if r.Likelihood() != 4 || r.Impact() != 3 || r.Score() != 12 || r.Band() != BandAmber ||
		r.Rationale() != "seen in 2025" || r.AssessedBy() != "alice" || r.AssessedAt() != t0 {
		t.Fatalf("rating = %+v", r)
	}
	if r.AssessedAt().Location() != time.UTC {
		t.Errorf("AssessedAt() in %s, want UTC", r.AssessedAt().Location())
	}

	tests := []struct {
		name                  string
		likelihood, impact    int
		rationale, assessedBy string
		at                    time.Time
		want                  error
	}{
		{"edges", 1, 5, "r", "a", t0, nil},
		{"rationale at limit", 5, 1, text(2000), "a", t0, nil},
		{"rationale over limit", 5, 1, text(2001), "a", t0, fields("rationale", "must be at most 2000 characters")},
		{"blank rationale", 3, 3, " \t", "a", t0, fields("rationale", "must not be blank")},
		{"likelihood 0", 0, 3, "r", "a", t0, fields("likelihood", "must be between 1 and 5")},
		{"likelihood 6", 6, 3, "r", "a", t0, fields("likelihood", "must be between 1 and 5")},
		{"impact 0", 3, 0, "r", "a", t0, fields("impact", "must be between 1 and 5")},
		{"impact 6", 3, 6, "r", "a", t0, fields("impact", "must be between 1 and 5")},
		{"assessor over limit", 3, 3, "r", text(201), t0, fields("assessedBy", "must be at most 200 characters")},
		{"everything wrong", -1, 99, "", "", time.Time{}, fields(
			"likelihood", "must be between 1 and 5",
			"impact", "must be between 1 and 5",
			"rationale", "must not be blank",
			"assessedBy", "must not be blank",
			"assessedAt", "must be set",
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRating(tc.likelihood, tc.impact, tc.rationale, tc.assessedBy, tc.at)
			assertError(t, err, tc.want)
			if err != nil && r != (Rating{}) {
				t.Errorf("rating with an error = %+v", r)
			}
		})
	}
}
