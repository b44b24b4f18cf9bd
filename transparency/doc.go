// Package transparency keeps a Merkle tree over riskreg's event log, in the
// design of Certificate Transparency (RFC 6962/9162) and the Go checksum
// database, so that a party outside the operator can check that nobody
// rewrote the log's history.
//
// Leaf i of the tree is the i-th event of the log's global order; its entry
// (see Entry) covers the event's place in the global order, its identity, its
// stream and version, recorded_at and its hash-chain hash. An Integrator
// follows the log, as the projections do, and stores the tree as tiles
// (C2SP tlog-tiles, height 8) in the table log_tiles; it signs checkpoints
// (C2SP tlog-checkpoint, as C2SP signed notes with Ed25519) that it keeps in
// log_checkpoints. Log serves checkpoints, tiles and inclusion and
// consistency proofs from those tables; Verify checks the log against
// checkpoints held outside, recomputing every leaf from the events
// themselves; bundles carry the evidence offline.
//
// The tree is never written inside an append's transaction: the log is the
// source of truth and the tree is derived from it, like a read model, but
// unlike a read model a tree that was signed may never change.
package transparency
