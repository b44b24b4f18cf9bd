package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// genesisHash is the previous hash of the first event of every stream.
var genesisHash = make([]byte, sha256.Size)

// chainHash returns SHA-256 over the previous event's hash and a canonical
// encoding of e: every field as a length-prefixed byte string, in a fixed
// order, with data and extra the canonicalJSON of e's Data and
// Metadata.Extra, so that a verifier reading the jsonb back recomputes
// exactly the hash the append stored.
func chainHash(prev []byte, e *RecordedEvent, data, extra []byte) []byte {
	h := sha256.New()
	var buf [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint32(buf[:4], uint32(len(b)))
		h.Write(buf[:4])
		h.Write(b)
	}
	number := func(n int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	h.Write(prev)
	h.Write(e.ID[:])
	field([]byte(e.StreamID))
	field([]byte(e.StreamType))
	number(e.Version)
	field([]byte(e.Type))
	number(int64(e.SchemaVersion))
	field(data)
	field([]byte(e.Metadata.Actor))
	field([]byte(e.Metadata.CorrelationID))
	field([]byte(e.Metadata.CausationID))
	field([]byte(e.Metadata.DecisionID))
	field([]byte(e.Metadata.RequestID))
	field(extra)
	field([]byte(e.OccurredAt.UTC().Format(time.RFC3339Nano)))
	return h.Sum(nil)
}
