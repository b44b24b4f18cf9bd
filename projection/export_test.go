package projection

// SetRebuildLimits sets how many rows a rebuild buffers per projection and
// writes per transaction, for tests that want the buffers to spill, and
// returns what restores them.
func SetRebuildLimits(bufferRows, writeRows int) (restore func()) {
	b, w := rebuildBufferRows, rebuildWriteRows
	rebuildBufferRows, rebuildWriteRows = bufferRows, writeRows
	return func() { rebuildBufferRows, rebuildWriteRows = b, w }
}

// MovesSQL is the statement of Reader.Moves, for benchmarks that explain it.
var MovesSQL = movesSQL

// RisksPageSQL is the statement of Reader.Risks (at nil) and Past.Risks,
// for benchmarks that explain it.
var RisksPageSQL = risksPageSQL
