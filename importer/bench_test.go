package importer_test

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/importer"
	"github.com/riskreg/riskreg/internal/regtest"
)

// BenchmarkImport compares, in one run and on one database, importing rows
// with importer.Import against sending the same rows one by one through
// register.Service (RegisterRisk, then AssessRisk). Run with
//
//	go test ./importer -run '^$' -bench Import -benchtime 1x -rows 10000
func BenchmarkImport(b *testing.B) {
	n := cmp.Or(*rows, 10_000)
	e := regtest.New(b)
	ctx := context.Background()
	for i := range b.N {
		rows, err := importer.ReadCSV(strings.NewReader(tenThousandFrom(n, fmt.Sprintf("batch %d ", i))))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		rep, err := importer.Import(ctx, e.Register, regtest.Staff(""), rows, importer.Options{Source: fmt.Sprintf("bench-%d.csv", i)})
		if err != nil || len(rep.Risks) != n {
			b.Fatalf("import: %v, %d risks", err, len(rep.Risks))
		}
		imported := time.Since(start)

		start = time.Now()
		for j := range n {
			r, err := e.Register.RegisterRisk(ctx, regtest.Staff(""), domain.RiskDetails{Title: fmt.Sprintf("One by one %d %d", i, j),
				Description: "cause -> event -> consequence", Category: "Operational", Source: "bench", Owner: "Owner"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Register.AssessRisk(ctx, regtest.Staff(""), r.ID(), r.Version(), domain.RatingKindInherent, 1+j%5, 1+(j/5)%5, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		oneByOne := time.Since(start)
		b.ReportMetric(float64(n)/imported.Seconds(), "import-rows/s")
		b.ReportMetric(float64(n)/oneByOne.Seconds(), "one-by-one-rows/s")
		b.ReportMetric(oneByOne.Seconds()/imported.Seconds(), "speedup")
	}
}

// tenThousandFrom is tenThousand with a prefix on every title.
func tenThousandFrom(n int, prefix string) string {
	return strings.ReplaceAll(tenThousand(n), "\nRisk ", "\n"+prefix+"Risk ")
}
