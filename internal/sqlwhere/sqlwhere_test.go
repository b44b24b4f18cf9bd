package sqlwhere

import (
	"slices"
	"testing"
)

func TestBuilder(t *testing.T) {
	var b Builder
	if got := b.Conditions(); got != "true" {
		t.Errorf("no conditions = %q, want true", got)
	}
	b.Where("a = %s", 1)
	b.Where("(b, c) > (%s, %s)", "x", 2)
	limit := b.Arg(50)
	if got, want := b.Conditions(), "a = $1 AND (b, c) > ($2, $3)"; got != want {
		t.Errorf("Conditions = %q, want %q", got, want)
	}
	if limit != "$4" || !slices.Equal(b.Args, []any{1, "x", 2, 50}) {
		t.Errorf("limit %s, args %v", limit, b.Args)
	}
}
