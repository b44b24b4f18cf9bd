package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/transparency"
)

// authorizeLog checks that the caller may read the Merkle log's proofs.
func authorizeLog(ctx context.Context) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	return p.Authorize(domain.ActionReadLog)
}

// logError maps the transparency package's errors to the contract's codes.
func logError(err error) error {
	switch {
	case errors.Is(err, transparency.ErrNotFound):
		return fmt.Errorf("%w: %w", domain.ErrNotFound, err)
	case errors.Is(err, transparency.ErrOutOfRange):
		return fmt.Errorf("%w: %w", domain.ErrInvalidInput, err)
	}
	return err
}

// treeSizeArg checks an optional tree size argument; 0 means the default.
func treeSizeArg(field string, n *int) (uint64, error) {
	if n == nil {
		return 0, nil
	}
	if *n < 1 {
		return 0, badInput(field, "must be positive")
	}
	return uint64(*n), nil
}

func checkpointModel(c *transparency.StoredCheckpoint) *model.Checkpoint {
	if c == nil {
		return nil
	}
	at := c.SignedAt
	return &model.Checkpoint{Origin: c.Origin, Size: int(c.Size), RootHash: base64.StdEncoding.EncodeToString(c.Root),
		Note: string(c.Note), SignedAt: &at}
}

// logCheckpoint resolves Query.logCheckpoint.
func (r *Resolver) logCheckpoint(ctx context.Context) (*model.Checkpoint, error) {
	if err := authorizeLog(ctx); err != nil {
		return nil, err
	}
	cp, err := r.Log.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	return checkpointModel(cp), nil
}

// eventInclusion resolves Query.eventInclusion.
func (r *Resolver) eventInclusion(ctx context.Context, eventID string, treeSize *int) (*model.InclusionProof, error) {
	if err := authorizeLog(ctx); err != nil {
		return nil, err
	}
	id, err := uuid.Parse(eventID)
	if err != nil {
		return nil, badInput("eventId", "not an event id")
	}
	size, err := treeSizeArg("treeSize", treeSize)
	if err != nil {
		return nil, err
	}
	p, _, err := r.Log.EventInclusion(ctx, id, size)
	if err != nil {
		return nil, logError(err)
	}
	j := p.JSON() // the HTTP form: hashes in base64
	return &model.InclusionProof{EventID: id.String(), LeafIndex: int(j.LeafIndex), TreeSize: int(j.TreeSize),
		Entry: j.Entry, LeafHash: j.LeafHash, Hashes: j.Hashes, RootHash: j.RootHash}, nil
}

// logConsistency resolves Query.logConsistency.
func (r *Resolver) logConsistency(ctx context.Context, fromSize int, toSize *int) (*model.ConsistencyProof, error) {
	if err := authorizeLog(ctx); err != nil {
		return nil, err
	}
	if fromSize < 0 {
		return nil, badInput("fromSize", "must not be negative")
	}
	to, err := treeSizeArg("toSize", toSize)
	if err != nil {
		return nil, err
	}
	p, err := r.Log.Consistency(ctx, uint64(fromSize), to)
	if err != nil {
		return nil, logError(err)
	}
	j := p.JSON()
	return &model.ConsistencyProof{FromSize: int(j.FromSize), ToSize: int(j.ToSize), FromRoot: j.FromRoot,
		ToRoot: j.ToRoot, Hashes: j.Hashes}, nil
}

// logIntegrity adds the Merkle log's check against every stored checkpoint
// to an integrity report of the whole log.
func (r *Resolver) logIntegrity(ctx context.Context, out *model.IntegrityReport) error {
	rep, err := transparency.Verify(ctx, r.Store, transparency.VerifyOptions{Stored: true})
	if err != nil {
		return err
	}
	out.TreeSize, out.CheckpointsChecked = int(rep.TreeSize), rep.Checkpoints
	out.LatestCheckpoint = checkpointModel(rep.Latest)
	for _, p := range rep.Problems {
		stream := p.StreamID
		if stream == "" {
			stream = "log"
		}
		reason := p.Reason
		if p.Leaf >= 0 {
			reason = fmt.Sprintf("leaf %d: %s", p.Leaf, p.Reason)
		}
		out.Problems = append(out.Problems, &model.IntegrityProblem{StreamID: stream, Version: int(p.Version), Reason: reason})
	}
	out.Ok = len(out.Problems) == 0
	return nil
}
