package transparency

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
)

// SigningKey signs checkpoints: a C2SP signed-note Ed25519 key. Its name is
// the log's origin, the first line of every checkpoint it signs.
type SigningKey struct {
	signer   note.Signer
	verifier string // the verifier key, name+hash+key
	private  ed25519.PrivateKey
}

// Name returns the key's name, the origin of the checkpoints it signs.
func (k *SigningKey) Name() string { return k.signer.Name() }

// Verifier returns the verifier key string (name+hash+base64) that checks
// the key's signatures.
func (k *SigningKey) Verifier() string { return k.verifier }

// Signer returns the key as a note.Signer.
func (k *SigningKey) Signer() note.Signer { return k.signer }

// GenerateKey returns a new signing key named name, in the note private key
// form (PRIVATE+KEY+name+hash+key), and its verifier key.
func GenerateKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("transparency: generate key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// ParseSigningKey parses a key in the form GenerateKey returns.
func ParseSigningKey(skey string) (*SigningKey, error) {
	skey = strings.TrimSpace(skey)
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("transparency: malformed signing key: %w", err)
	}
	// PRIVATE+KEY+name+hash+base64(0x01 || seed)
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("transparency: malformed signing key: not an Ed25519 key")
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("transparency: %w", err)
	}
	return &SigningKey{signer: signer, verifier: vkey, private: priv}, nil
}

// LoadSigningKey reads a signing key file. It refuses a file that others
// than its owner may read.
func LoadSigningKey(path string) (*SigningKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("transparency: signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("transparency: signing key %s may be read by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transparency: signing key: %w", err)
	}
	return ParseSigningKey(string(b))
}

// LoadVerifier reads a verifier key (a file holding name+hash+key, or the
// string itself).
func LoadVerifier(pathOrKey string) (note.Verifier, error) {
	s := pathOrKey
	if b, err := os.ReadFile(pathOrKey); err == nil {
		s = string(b)
	} else if !strings.Contains(pathOrKey, "+") {
		return nil, fmt.Errorf("transparency: verifier key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("transparency: malformed verifier key: %w", err)
	}
	return v, nil
}

// Checkpoint is a signed statement of the tree: C2SP tlog-checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	// Note is the whole signed note: the body and its signature lines.
	Note     []byte
	SignedAt time.Time
}

// FormatCheckpoint returns the body of a checkpoint: the origin, the tree
// size and the base64 root hash, each on its own line.
func FormatCheckpoint(origin string, size uint64, root []byte) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
}

// ParseCheckpoint parses a checkpoint's body; lines after the root hash
// (extensions) are allowed and ignored.
func ParseCheckpoint(body []byte) (origin string, size uint64, root []byte, err error) {
	lines := strings.SplitN(string(body), "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return "", 0, nil, errors.New("transparency: malformed checkpoint: want origin, size and root lines")
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, nil, fmt.Errorf("transparency: malformed checkpoint size %q", lines[1])
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return "", 0, nil, fmt.Errorf("transparency: malformed checkpoint root %q", lines[2])
	}
	return lines[0], size, root, nil
}

// OpenCheckpoint verifies a signed checkpoint with v and parses it. Its
// origin must be the verifier's name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("transparency: checkpoint signature: %w", err)
	}
	// note decodes signatures leniently (ignoring base64's padding bits):
	// a checkpoint is taken only in its one canonical form.
	for _, sig := range append(n.Sigs, n.UnverifiedSigs...) {
		if _, err := base64.StdEncoding.Strict().DecodeString(sig.Base64); err != nil {
			return Checkpoint{}, fmt.Errorf("transparency: checkpoint signature of %s is not canonical base64", sig.Name)
		}
	}
	origin, size, root, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("transparency: checkpoint of origin %q, the key is %q", origin, v.Name())
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: msg}, nil
}

// Sign signs a checkpoint of the tree of size with root.
func (k *SigningKey) Sign(size uint64, root []byte) (Checkpoint, error) {
	msg, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(k.Name(), size, root))}, k.signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("transparency: sign checkpoint: %w", err)
	}
	return Checkpoint{Origin: k.Name(), Size: size, Root: root, Note: msg, SignedAt: time.Now().UTC()}, nil
}

// SignLatest signs a checkpoint of the stored tree when it has grown since
// the last checkpoint signed with key, stores it, writes it to dir when dir
// is not empty, and reports whether it signed one.
func SignLatest(ctx context.Context, pool *pgxpool.Pool, key *SigningKey, dir string) (Checkpoint, bool, error) {
	var size, last int64
	var root []byte
	err := pool.QueryRow(ctx, `SELECT t.size, t.root, COALESCE((SELECT max(size) FROM log_checkpoints WHERE verifier = $1), -1)
		FROM log_tree t`, key.Verifier()).Scan(&size, &root, &last)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("transparency: read the tree: %w", err)
	}
	if size == 0 || size <= last {
		return Checkpoint{}, false, nil
	}
	cp, err := key.Sign(uint64(size), root)
	if err != nil {
		return Checkpoint{}, false, err
	}
	// The file first: whoever sees the checkpoint in the database (or at
	// /log/checkpoint) finds its file too. Ed25519 signs deterministically,
	// so a process that signs the same tree writes the same bytes.
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Checkpoint{}, false, fmt.Errorf("transparency: checkpoint dir: %w", err)
		}
		if err := writeFile(filepath.Join(dir, checkpointFile(cp.Size)), cp.Note, 0o644); err != nil {
			return Checkpoint{}, false, err
		}
	}
	tag, err := pool.Exec(ctx, `INSERT INTO log_checkpoints (origin, size, root, note, verifier) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (verifier, size) DO NOTHING`, cp.Origin, size, root, string(cp.Note), key.Verifier())
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("transparency: store checkpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return Checkpoint{}, false, nil // another process signed it meanwhile
	}
	return cp, true, nil
}

// StoredCheckpoints returns every checkpoint stored, in order of size.
func StoredCheckpoints(ctx context.Context, db queryer) ([]StoredCheckpoint, error) {
	rows, err := db.Query(ctx, `SELECT id, origin, size, root, note, verifier, signed_at FROM log_checkpoints ORDER BY size, id`)
	if err != nil {
		return nil, fmt.Errorf("transparency: read checkpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredCheckpoint, error) {
		var c StoredCheckpoint
		var size int64
		var text string
		err := r.Scan(&c.ID, &c.Origin, &size, &c.Root, &text, &c.Verifier, &c.SignedAt)
		c.Size, c.Note = uint64(size), []byte(text)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("transparency: read checkpoints: %w", err)
	}
	return list, nil
}

// StoredCheckpoint is a checkpoint as log_checkpoints keeps it.
type StoredCheckpoint struct {
	Checkpoint
	ID       int64
	Verifier string
}

// noteBody returns the text of a signed note without its signatures.
func noteBody(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return msg[:i+1]
	}
	return msg
}

// ParseUnverified parses a signed checkpoint without checking its
// signature: for a checkpoint that is only a starting point (an export's
// --since-checkpoint), whose signature the verifier checks later.
func ParseUnverified(msg []byte) (Checkpoint, error) {
	origin, size, root, err := ParseCheckpoint(noteBody(msg))
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: msg}, nil
}
