package eventstore

import (
	"bytes"
	"fmt"
	"testing"
)

func TestHeadCacheRemembersForgetsAndKeepsTheNewest(t *testing.T) {
	var c headCache
	batch := []*appendRequest{{streams: []StreamAppend{{StreamID: "risk-1"}, {StreamID: "risk-2"}}}}
	if heads := c.lookup(batch); len(heads) != 0 {
		t.Fatalf("an empty cache found %d heads", len(heads))
	}
	c.forget(batch) // on an empty cache: nothing to do, and no panic
	hash := bytes.Repeat([]byte{7}, 32)
	c.store([]*RecordedEvent{{StreamID: "risk-1"}}, map[string]*streamHead{"risk-1": {streamType: "risk", version: 3, hash: hash}})

	heads := c.lookup(batch)
	if len(heads) != 1 {
		t.Fatalf("lookup found %d heads, want 1 (risk-2 was never stored)", len(heads))
	}
	h := heads["risk-1"]
	if h.streamType != "risk" || h.version != 3 || !bytes.Equal(h.hash, hash) {
		t.Fatalf("lookup = %+v, want type risk, version 3 and the stored hash", h)
	}
	h.version, h.hash[0] = 9, 0 // planning advances its copy only
	if again := c.lookup(batch)["risk-1"]; again.version != 3 || again.hash[0] != 7 {
		t.Fatalf("a copy's change reached the cache: %+v", again)
	}

	c.store([]*RecordedEvent{{StreamID: "risk-1"}}, map[string]*streamHead{"risk-1": {streamType: "risk", version: 2, hash: hash}})
	if got := c.lookup(batch)["risk-1"].version; got != 3 {
		t.Fatalf("an older head replaced a newer one: version %d, want 3", got)
	}

	c.forget(batch)
	if heads := c.lookup(batch); len(heads) != 0 {
		t.Fatalf("forget left %d heads", len(heads))
	}
}

func TestHeadCacheStartsAgainWhenItsTypeTableIsFull(t *testing.T) {
	var c headCache
	hash := make([]byte, 32)
	for i := range maxCachedTypes + 1 {
		id, typ := fmt.Sprintf("s-%d", i), fmt.Sprintf("type-%d", i)
		c.store([]*RecordedEvent{{StreamID: id}}, map[string]*streamHead{id: {streamType: typ, version: 1, hash: hash}})
	}
	if len(c.types) != 1 || len(c.m) != 1 {
		t.Fatalf("after %d types the cache holds %d types and %d heads, want 1 and 1", maxCachedTypes+1, len(c.types), len(c.m))
	}
	last := fmt.Sprintf("s-%d", maxCachedTypes)
	h := c.lookup([]*appendRequest{{streams: []StreamAppend{{StreamID: last}}}})[last]
	if h == nil || h.streamType != fmt.Sprintf("type-%d", maxCachedTypes) {
		t.Fatalf("the newest head after the reset = %+v", h)
	}
}

func TestHeadCacheSkipsHashesItCannotHold(t *testing.T) {
	var c headCache
	c.store([]*RecordedEvent{{StreamID: "odd"}}, map[string]*streamHead{"odd": {streamType: "risk", version: 1, hash: []byte{1, 2}}})
	if heads := c.lookup([]*appendRequest{{streams: []StreamAppend{{StreamID: "odd"}}}}); len(heads) != 0 {
		t.Fatalf("a head with a 2-byte hash was cached: %+v", heads["odd"])
	}
}
