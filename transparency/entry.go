package transparency

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/eventstore"
)

// EntryVersion is the first byte of every entry: the version of its encoding.
const EntryVersion = 1

// Entry is what leaf Index of the tree commits to: the event at that place in
// the global order. Every field the per-stream hash chain leaves out (the
// global order, recorded_at) is here, and Hash covers the rest.
type Entry struct {
	Index      uint64    // the place of the event in the global order, from 0
	EventID    uuid.UUID // the event's id
	StreamID   string    // its stream
	Version    int64     // its version in the stream, from 1
	RecordedAt time.Time // when it was committed, to the microsecond
	Hash       []byte    // its hash-chain hash (32 bytes)
}

// EntryOf returns the entry of event e at place index of the global order.
func EntryOf(index uint64, e *eventstore.RecordedEvent) Entry {
	return Entry{Index: index, EventID: e.ID, StreamID: e.StreamID, Version: e.Version, RecordedAt: e.RecordedAt, Hash: e.Hash}
}

// Encode returns the canonical encoding of the entry, the bytes the leaf hash
// is computed over:
//
//	byte     EntryVersion (1)
//	uint64   Index, big-endian
//	16 bytes EventID
//	uint32   length of StreamID, big-endian, then StreamID's UTF-8 bytes
//	int64    Version, big-endian
//	int64    RecordedAt as microseconds since the Unix epoch (UTC), big-endian
//	uint32   length of Hash, big-endian, then Hash
func (e Entry) Encode() []byte {
	b := make([]byte, 0, 1+8+16+4+len(e.StreamID)+8+8+4+len(e.Hash))
	return e.appendTo(b)
}

func (e Entry) appendTo(b []byte) []byte {
	b = append(b, EntryVersion)
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = append(b, e.EventID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.StreamID)))
	b = append(b, e.StreamID...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Version))
	b = binary.BigEndian.AppendUint64(b, uint64(e.RecordedAt.UnixMicro()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Hash)))
	return append(b, e.Hash...)
}

// DecodeEntry parses the encoding Encode returns.
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	bad := func(what string) (Entry, error) {
		return Entry{}, fmt.Errorf("transparency: malformed entry: %s", what)
	}
	if len(b) < 1+8+16+4 || b[0] != EntryVersion {
		return bad("unknown version or too short")
	}
	e.Index = binary.BigEndian.Uint64(b[1:])
	copy(e.EventID[:], b[9:25])
	n := int(binary.BigEndian.Uint32(b[25:]))
	b = b[29:]
	if len(b) < n+8+8+4 {
		return bad("too short")
	}
	e.StreamID = string(b[:n])
	b = b[n:]
	e.Version = int64(binary.BigEndian.Uint64(b))
	e.RecordedAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[8:]))).UTC()
	n = int(binary.BigEndian.Uint32(b[16:]))
	b = b[20:]
	if len(b) != n {
		return bad("wrong hash length")
	}
	e.Hash = append([]byte(nil), b...)
	return e, nil
}

// LeafHash returns the RFC 6962 leaf hash of an encoded entry:
// SHA-256(0x00 || entry).
func LeafHash(entry []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(entry)
	return h.Sum(nil)
}

// leafHashOf returns the leaf hash of event e at place index, reusing buf.
func leafHashOf(buf []byte, index uint64, e *eventstore.RecordedEvent) ([]byte, []byte) {
	buf = append(buf[:0], 0)
	buf = EntryOf(index, e).appendTo(buf)
	sum := sha256.Sum256(buf)
	return sum[:], buf
}
