package benchstat_test

import (
	"testing"

	"github.com/riskreg/riskreg/internal/benchstat"
)

func TestMean(t *testing.T) {
	if got := benchstat.Mean([]float64{1, 2, 6}); got != 3 {
		t.Errorf("Mean(1, 2, 6) = %v, want 3", got)
	}
	if got := benchstat.Mean(nil); got != 0 {
		t.Errorf("Mean() = %v, want 0", got)
	}
}

func TestMedianRatio(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []float64
		want float64
	}{
		{"odd rounds, outlier ignored", []float64{10, 20, 300}, []float64{10, 10, 10}, 2},
		{"even rounds, middle two averaged", []float64{1, 2, 3, 40}, []float64{1, 1, 1, 1}, 2.5},
		{"ratios per round, not of sums", []float64{2, 90}, []float64{1, 100}, (0.9 + 2) / 2},
	} {
		if got := benchstat.MedianRatio(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: MedianRatio(%v, %v) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
}
