package projection

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// analyzeFirst is how many events a runner applies to a read model before it
// first has PostgreSQL vacuum and analyze the model's tables; it does so
// again each time the count doubles.
//
// Every partition of a read-model table holds one generation, so
// "generation = N" matches all of it. Without statistics (a new register, a
// generation just filled) the planner takes that condition for a selective
// one and prefers the indexes that lead with the generation, scanning a whole
// generation for the few rows a batch or a page looks up. The vacuum marks
// the pages all-visible, so that counts of a page's risks read the index
// alone. Autovacuum does both only after its naptime, so a register that
// starts busy would run for a minute on plans made for empty tables.
const analyzeFirst = 1000

// Maintenance commands for the partitions of a generation.
const (
	cmdAnalyze       = "ANALYZE"
	cmdVacuumAnalyze = "VACUUM (ANALYZE)"
)

// maintain runs command (cmdAnalyze or cmdVacuumAnalyze) on the partitions of
// p's tables that hold generation gen.
func maintain(ctx context.Context, pool *pgxpool.Pool, p Projection, gen int64, command string) error {
	parts := make([]string, len(p.Tables()))
	for i, table := range p.Tables() {
		parts[i] = pgx.Identifier{partitionOf(table, gen)}.Sanitize()
	}
	if _, err := pool.Exec(ctx, command+" "+strings.Join(parts, ", ")); err != nil {
		return fmt.Errorf("projection %s: %s generation %d: %w", p.Name(), strings.ToLower(command), gen, err)
	}
	return nil
}
