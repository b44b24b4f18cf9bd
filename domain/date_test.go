package domain

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	d, err := ParseDate("2026-11-27")
	assertError(t, err, nil)
	if d.String() != "2026-11-27" || d.IsZero() || !d.Time().Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParseDate = %v", d)
	}
	if leap, err := ParseDate("2028-02-29"); err != nil || leap.String() != "2028-02-29" {
		t.Errorf("leap day: %v %v", leap, err)
	}
	for _, s := range []string{"", "2026-02-29", "2026-13-01", "2026-1-2", "27/11/2026", "2026-11-27T00:00:00Z", " 2026-11-27"} {
		_, err := ParseDate(s)
		assertError(t, err, fields("date", `"`+s+`" is not a date of the form YYYY-MM-DD`))
	}
}

func TestDateOf(t *testing.T) {
	late := time.Date(2026, 11, 27, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	if got := DateOf(late); got != date("2026-11-27") {
		t.Errorf("DateOf(local) = %s", got)
	}
	if got := DateOf(late.UTC()); got != date("2026-11-28") {
		t.Errorf("DateOf(UTC) = %s", got)
	}
}

func TestDateOrder(t *testing.T) {
	a, b := date("2026-12-31"), date("2027-01-01")
	if !a.Before(b) || a.After(b) || !b.After(a) || b.Before(a) || a.Before(a) || a.After(a) {
		t.Error("Before/After")
	}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(date("2026-12-31")) != 0 {
		t.Error("Compare")
	}
	if !(Date{}).Before(a) || (Date{}).String() != "" || !(Date{}).IsZero() {
		t.Error("zero Date")
	}
}

func TestDateJSON(t *testing.T) {
	type holder struct {
		D Date  `json:"d"`
		O Date  `json:"o,omitzero"`
		P *Date `json:"p,omitempty"`
	}
	in := holder{D: date("2026-11-27"), P: ptr(date("2027-01-01"))}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"d":"2026-11-27","p":"2027-01-01"}` {
		t.Fatalf("Marshal = %s", data)
	}
	var out holder
	if err := json.Unmarshal(data, &out); err != nil || out.D != in.D || *out.P != *in.P || !out.O.IsZero() {
		t.Fatalf("Unmarshal = %+v, %v", out, err)
	}
	if data, _ := json.Marshal(holder{}); string(data) != `{"d":null}` {
		t.Errorf("zero Marshal = %s", data)
	}
	var null holder
	if err := json.Unmarshal([]byte(`{"d":null}`), &null); err != nil || !null.D.IsZero() {
		t.Errorf("null = %+v, %v", null, err)
	}
	for _, bad := range []string{`{"d":"2026-02-30"}`, `{"d":20261127}`, `{"d":""}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
