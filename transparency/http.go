package transparency

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
)

// Authenticator returns the principal of a bearer token.
type Authenticator func(ctx context.Context, token string) (domain.Principal, error)

// Handler serves the log under /log/ for tlog clients, witnesses and
// auditors:
//
//	GET /log/checkpoint                     the latest signed checkpoint (text)
//	GET /log/tile/<L>/<N>[.p/<W>]           a tile (C2SP tlog-tiles)
//	GET /log/tile/entries/<N>[.p/<W>]       an entry bundle (auditor, admin)
//	GET /log/consistency?from=M&to=N        a consistency proof (JSON)
//	GET /log/inclusion?event=ID&size=N      an inclusion proof (auditor, admin)
//	GET /log/inclusion?index=I&size=N       an inclusion proof (auditor, admin)
//
// Checkpoints, tiles and consistency proofs hold nothing but hashes and are
// public; entries and inclusion proofs name events, so they need a bearer
// token of an auditor or admin.
func Handler(l *Log, authenticate Authenticator, logger *slog.Logger) http.Handler {
	h := &handler{l: l, auth: authenticate, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /log/checkpoint", h.checkpoint)
	mux.HandleFunc("GET /log/tile/", h.tile)
	mux.HandleFunc("GET /log/consistency", h.consistency)
	mux.HandleFunc("GET /log/inclusion", h.inclusion)
	return mux
}

type handler struct {
	l    *Log
	auth Authenticator
	log  *slog.Logger
}

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := h.l.LatestCheckpoint(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	if cp == nil {
		http.Error(w, "no checkpoint has been signed yet", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(cp.Note)
}

func (h *handler) tile(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/log/")
	entries := strings.HasPrefix(rest, "tile/entries/")
	// C2SP paths have no height; tlog's carry it, and call entries "data".
	p := "tile/" + strconv.Itoa(TileHeight) + "/" + strings.TrimPrefix(rest, "tile/")
	if entries {
		p = "tile/" + strconv.Itoa(TileHeight) + "/data/" + strings.TrimPrefix(rest, "tile/entries/")
	}
	t, err := tlog.ParseTilePath(p)
	if err != nil || t.H != TileHeight {
		http.Error(w, "malformed tile path", http.StatusBadRequest)
		return
	}
	var data []byte
	if entries {
		if !h.authorized(w, r) {
			return
		}
		data, err = h.l.EntryBundle(r.Context(), t.N, t.W)
	} else {
		data, err = h.l.Tile(r.Context(), t.L, t.N, t.W)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if t.W == tileWidth {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	_, _ = w.Write(data)
}

// ConsistencyJSON is a consistency proof over HTTP; hashes are base64.
type ConsistencyJSON struct {
	FromSize uint64   `json:"fromSize"`
	ToSize   uint64   `json:"toSize"`
	FromRoot string   `json:"fromRoot"`
	ToRoot   string   `json:"toRoot"`
	Hashes   []string `json:"hashes"`
}

// InclusionJSON is an inclusion proof over HTTP; hashes and the entry are
// base64.
type InclusionJSON struct {
	EventID   string   `json:"eventId,omitempty"`
	LeafIndex uint64   `json:"leafIndex"`
	TreeSize  uint64   `json:"treeSize"`
	Entry     string   `json:"entry,omitempty"`
	LeafHash  string   `json:"leafHash"`
	Hashes    []string `json:"hashes"`
	RootHash  string   `json:"rootHash"`
}

// JSON returns the proof's HTTP form.
func (p ConsistencyProof) JSON() ConsistencyJSON {
	return ConsistencyJSON{FromSize: p.FromSize, ToSize: p.ToSize, FromRoot: b64(p.FromRoot), ToRoot: b64(p.ToRoot), Hashes: b64s(p.Hashes)}
}

// Proof parses the HTTP form back.
func (j ConsistencyJSON) Proof() (ConsistencyProof, error) {
	p := ConsistencyProof{FromSize: j.FromSize, ToSize: j.ToSize}
	var err1, err2, err3 error
	p.FromRoot, err1 = base64.StdEncoding.Strict().DecodeString(j.FromRoot)
	p.ToRoot, err2 = base64.StdEncoding.Strict().DecodeString(j.ToRoot)
	p.Hashes, err3 = unb64s(j.Hashes)
	return p, errors.Join(err1, err2, err3)
}

// JSON returns the proof's HTTP form.
func (p InclusionProof) JSON() InclusionJSON {
	return InclusionJSON{LeafIndex: p.LeafIndex, TreeSize: p.TreeSize, Entry: b64(p.Entry), LeafHash: b64(p.LeafHash),
		Hashes: b64s(p.Hashes), RootHash: b64(p.Root)}
}

func (h *handler) consistency(w http.ResponseWriter, r *http.Request) {
	from, err1 := uintParam(r, "from")
	to, err2 := uintParam(r, "to")
	if err := errors.Join(err1, err2); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := h.l.Consistency(r.Context(), from, to)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, p.JSON())
}

func (h *handler) inclusion(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	size, err := uintParam(r, "size")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var p InclusionProof
	var out InclusionJSON
	if ev := r.URL.Query().Get("event"); ev != "" {
		id, perr := uuid.Parse(ev)
		if perr != nil {
			http.Error(w, "event: not an event id", http.StatusBadRequest)
			return
		}
		p, _, err = h.l.EventInclusion(r.Context(), id, size)
		out = p.JSON()
		out.EventID = id.String()
	} else {
		index, perr := uintParam(r, "index")
		if perr != nil || !r.URL.Query().Has("index") {
			http.Error(w, "give event=ID or index=N", http.StatusBadRequest)
			return
		}
		p, err = h.l.Inclusion(r.Context(), index, size)
		out = p.JSON()
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, out)
}

// authorized checks the request's bearer token for ActionReadLog and
// answers 401 or 403 when it fails.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.auth == nil {
		http.Error(w, "not available", http.StatusForbidden)
		return false
	}
	token, ok := auth.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
		return false
	}
	p, err := h.auth(r.Context(), token)
	if err != nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return false
	}
	if err := p.Authorize(domain.ActionReadLog); err != nil {
		http.Error(w, "only auditors and admins may read the log's entries and inclusion proofs", http.StatusForbidden)
		return false
	}
	return true
}

// fail answers err: out-of-range and not-found requests are the client's,
// anything else is logged and answered without detail.
func (h *handler) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
	case errors.Is(err, ErrOutOfRange):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		h.log.Error("transparency: serving the log failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func uintParam(r *http.Request, name string) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, errors.New(name + ": not a tree size or index")
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string {
	if b == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}

func unb64s(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
