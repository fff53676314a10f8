package sign

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"sandyq/crypto/internal/bech32"
)

// Kind says what a key is for. It is part of the key's text encoding.
type Kind string

// The kinds of keys.
const (
	Newsroom Kind = "newsroom" // signs recipient sets; kept offline
	Access   Kind = "access"   // a journalist's key for the journalist API
	Instance Kind = "instance" // the server's key; signs bundles
)

func (k Kind) valid() bool {
	return k == Newsroom || k == Access || k == Instance
}

func (k Kind) publicHRP() string { return "sandyq-" + string(k) }

func (k Kind) secretHRP() string {
	return "SANDYQ-" + strings.ToUpper(string(k)) + "-SECRET-KEY-"
}

// PublicKey is an Ed25519 public key of a given Kind.
type PublicKey struct {
	kind Kind
	key  ed25519.PublicKey
}

// PrivateKey is an Ed25519 private key of a given Kind.
type PrivateKey struct {
	kind Kind
	key  ed25519.PrivateKey
}

// Generate returns a new private key of kind k, reading its 32-byte seed
// from rand (crypto/rand.Reader in production).
func Generate(rand io.Reader, k Kind) (*PrivateKey, error) {
	if !k.valid() {
		return nil, ErrUnknownKind
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("failed to read random seed: %w", err)
	}
	return NewPrivateKey(seed, k)
}

// NewPrivateKey returns the private key of kind k with the given 32-byte
// Ed25519 seed.
func NewPrivateKey(seed []byte, k Kind) (*PrivateKey, error) {
	if !k.valid() {
		return nil, ErrUnknownKind
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrMalformedKey, len(seed), ed25519.SeedSize)
	}
	return &PrivateKey{kind: k, key: ed25519.NewKeyFromSeed(seed)}, nil
}

// NewPublicKey returns the public key of kind k with the given 32 bytes.
func NewPublicKey(b []byte, k Kind) (*PublicKey, error) {
	if !k.valid() {
		return nil, ErrUnknownKind
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrMalformedKey, len(b), ed25519.PublicKeySize)
	}
	return &PublicKey{kind: k, key: ed25519.PublicKey(append([]byte(nil), b...))}, nil
}

// Kind returns the key's kind.
func (k *PrivateKey) Kind() Kind { return k.kind }

// Public returns the public key of k.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{kind: k.kind, key: k.key.Public().(ed25519.PublicKey)}
}

// Seed returns a copy of the 32-byte Ed25519 seed of k.
func (k *PrivateKey) Seed() []byte { return append([]byte(nil), k.key.Seed()...) }

// String returns the upper-case Bech32 encoding of k,
// "SANDYQ-<KIND>-SECRET-KEY-1…". It is a secret.
func (k *PrivateKey) String() string {
	s, err := bech32.Encode(k.kind.secretHRP(), k.key.Seed())
	if err != nil {
		panic("sign: internal error: " + err.Error())
	}
	return s
}

// Kind returns the key's kind.
func (p *PublicKey) Kind() Kind { return p.kind }

// Bytes returns a copy of the 32-byte Ed25519 public key.
func (p *PublicKey) Bytes() []byte { return append([]byte(nil), p.key...) }

// String returns the lower-case Bech32 encoding of p, "sandyq-<kind>1…".
func (p *PublicKey) String() string {
	s, err := bech32.Encode(p.kind.publicHRP(), p.key)
	if err != nil {
		panic("sign: internal error: " + err.Error())
	}
	return s
}

// Equal reports whether p and q are the same key of the same kind.
func (p *PublicKey) Equal(q *PublicKey) bool {
	if p == nil || q == nil {
		return p == q
	}
	return p.kind == q.kind && subtle.ConstantTimeCompare(p.key, q.key) == 1
}

// Fingerprint returns a short identifier of p for display: the first 8 bytes
// of SHA-256 of p.String(), as 16 lower-case hex digits. It is meant for
// people comparing keys at a glance; pin the full key, not the fingerprint.
func (p *PublicKey) Fingerprint() string {
	h := sha256.Sum256([]byte(p.String()))
	return hex.EncodeToString(h[:8])
}

// looksSecret reports whether s looks like any secret key sandyq or age
// knows, so it can be refused without being echoed.
func looksSecret(s string) bool {
	u := strings.ToUpper(strings.TrimSpace(s))
	return strings.HasPrefix(u, "AGE-SECRET-KEY-") || strings.HasPrefix(u, "AGE-PLUGIN-") ||
		(strings.HasPrefix(u, "SANDYQ-") && strings.Contains(u, "-SECRET-KEY-"))
}

// LooksSecret reports whether s looks like a secret key (sandyq's or age's),
// for callers that must refuse secrets in public places without echoing them.
func LooksSecret(s string) bool { return looksSecret(s) }

// ParsePublicKey parses a "sandyq-<kind>1…" public key of kind k.
// Surrounding white space is ignored. A secret key gives [ErrSecretKey].
// Errors never contain s.
func ParsePublicKey(s string, k Kind) (*PublicKey, error) {
	if !k.valid() {
		return nil, ErrUnknownKind
	}
	if looksSecret(s) {
		return nil, ErrSecretKey
	}
	s = strings.TrimSpace(s)
	if s != strings.ToLower(s) {
		return nil, fmt.Errorf("%w: public keys are lower case", ErrMalformedKey)
	}
	hrp, data, err := bech32.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	if hrp != k.publicHRP() {
		if strings.HasPrefix(hrp, "sandyq-") {
			return nil, fmt.Errorf("%w: this is a %q key, want %q", ErrWrongKind, hrp, k.publicHRP())
		}
		return nil, fmt.Errorf("%w: not a sandyq %s public key", ErrMalformedKey, k)
	}
	return NewPublicKey(data, k)
}

// ParsePrivateKey parses a "SANDYQ-<KIND>-SECRET-KEY-1…" secret key of kind
// k. Surrounding white space is ignored. Errors never contain s.
func ParsePrivateKey(s string, k Kind) (*PrivateKey, error) {
	if !k.valid() {
		return nil, ErrUnknownKind
	}
	s = strings.TrimSpace(s)
	if s != strings.ToUpper(s) {
		return nil, fmt.Errorf("%w: secret keys are upper case", ErrMalformedKey)
	}
	hrp, data, err := bech32.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedKey, err)
	}
	if hrp != k.secretHRP() {
		if strings.HasPrefix(hrp, "SANDYQ-") && strings.HasSuffix(hrp, "-SECRET-KEY-") {
			return nil, fmt.Errorf("%w: this is a %q key, want %q", ErrWrongKind, hrp, k.secretHRP())
		}
		return nil, fmt.Errorf("%w: not a sandyq %s secret key", ErrMalformedKey, k)
	}
	return NewPrivateKey(data, k)
}
