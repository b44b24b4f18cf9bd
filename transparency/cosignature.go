package transparency

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// cosignatureAlg is the signature type of C2SP tlog-cosignature/v1 keys.
const cosignatureAlg = 0x04

// cosignatureKeyHash is a cosigning key's id: the first four bytes of
// SHA-256(name || "\n" || 0x04 || public key), big-endian.
func cosignatureKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', cosignatureAlg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// cosignedMessage is what a cosignature/v1 signs: a header with the time,
// then the checkpoint's body.
func cosignedMessage(t uint64, body []byte) []byte {
	return append(fmt.Appendf(nil, "cosignature/v1\ntime %d\n", t), body...)
}

// Cosigner returns the key as a C2SP tlog-cosignature/v1 signer (a
// witness's), stamping each cosignature with now.
func (k *SigningKey) Cosigner(now func() time.Time) note.Signer {
	return &cosigner{name: k.Name(), priv: k.private, now: now}
}

// CosignatureVerifierKey returns the key's cosignature verifier key,
// name+hash+base64(0x04 || public key).
func (k *SigningKey) CosignatureVerifierKey() string {
	pub := k.private.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", k.Name(), cosignatureKeyHash(k.Name(), pub),
		base64.StdEncoding.EncodeToString(append([]byte{cosignatureAlg}, pub...)))
}

type cosigner struct {
	name string
	priv ed25519.PrivateKey
	now  func() time.Time
}

func (c *cosigner) Name() string { return c.name }
func (c *cosigner) KeyHash() uint32 {
	return cosignatureKeyHash(c.name, c.priv.Public().(ed25519.PublicKey))
}

// Sign returns the timestamp (8 bytes, big-endian seconds) and the
// Ed25519 signature of the cosigned message.
func (c *cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(c.now().Unix())
	sig := ed25519.Sign(c.priv, cosignedMessage(t, msg))
	return append(binary.BigEndian.AppendUint64(nil, t), sig...), nil
}

// NewCosignatureVerifier parses a cosignature verifier key (see
// CosignatureVerifierKey) into a note.Verifier of cosignatures.
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(strings.TrimSpace(vkey), "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("transparency: malformed cosignature verifier key")
	}
	hash, err1 := strconv.ParseUint(parts[1], 16, 32)
	raw, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != cosignatureAlg {
		return nil, errors.New("transparency: malformed cosignature verifier key")
	}
	pub := ed25519.PublicKey(raw[1:])
	if uint32(hash) != cosignatureKeyHash(parts[0], pub) {
		return nil, errors.New("transparency: cosignature verifier key: wrong key hash")
	}
	return &coverifier{name: parts[0], pub: pub}, nil
}

type coverifier struct {
	name string
	pub  ed25519.PublicKey
}

func (v *coverifier) Name() string    { return v.name }
func (v *coverifier) KeyHash() uint32 { return cosignatureKeyHash(v.name, v.pub) }
func (v *coverifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(binary.BigEndian.Uint64(sig), msg), sig[8:])
}
