package projection

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// marshalRating writes what json.Marshal writes, for plain ratings and for
// those it leaves to json.Marshal.
func TestMarshalRatingIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 11, 30, 17, 4, 5, 123456000, time.UTC)
	for _, r := range []Rating{
		{Likelihood: 3, Impact: 4, Rationale: "Supplier lost", AssessedBy: "auditor", AssessedAt: at},
		{Likelihood: 5, Impact: 5, AssessedAt: at.Truncate(time.Second)},
		{},
		{Likelihood: 1, Impact: 2, Rationale: `quote " and \ and <b> & é`, AssessedBy: "a\nb", AssessedAt: at},
		{Likelihood: 1, Impact: 2, Rationale: "x", AssessedBy: "y", AssessedAt: at.In(time.FixedZone("", 5*3600+1800))},
		{Likelihood: 1, Impact: 2, Rationale: "x", AssessedBy: "y", AssessedAt: at.In(time.FixedZone("", -7))},
		{Likelihood: -1, Impact: 10, Rationale: "x", AssessedBy: "y", AssessedAt: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		want, wantErr := json.Marshal(&r)
		got, err := marshalRating(&r)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Errorf("marshalRating(%+v) = %s, %v; json.Marshal gives %s, %v", r, got, err, want, wantErr)
		}
	}
}
