//go:build !race

package transparency

// raceEnabled is true in tests built with the race detector, which makes
// signature checks about ten times slower: some tests then sample.
const raceEnabled = false
