// Package benchstat summarises the rates that riskreg's benchmarks measure
// in rounds run side by side with a raw baseline.
package benchstat

import "slices"

// Mean returns the mean of xs, or 0 when xs is empty.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// MedianRatio returns the median of the ratios a[i]/b[i] of rounds run side
// by side, which a burst of noise in one round moves least. a and b must have
// the same, non-zero length.
func MedianRatio(a, b []float64) float64 {
	ratios := make([]float64, len(a))
	for i := range a {
		ratios[i] = a[i] / b[i]
	}
	slices.Sort(ratios)
	if len(ratios)%2 == 0 {
		return (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	}
	return ratios[len(ratios)/2]
}
