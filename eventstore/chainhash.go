package eventstore

// ChainHash recomputes the hash-chain hash of a recorded event from its
// content and PrevHash, exactly as Verify does, for verifiers that hold
// events outside the database (an auditor's evidence bundle). The event must
// be as stored: not upcast.
func ChainHash(e RecordedEvent) ([]byte, error) {
	data, err := canonicalJSON(e.Data)
	if err != nil {
		return nil, err
	}
	extra, err := canonicalJSON(e.Metadata.Extra)
	if err != nil {
		return nil, err
	}
	return chainHash(e.PrevHash, &e, data, extra), nil
}
