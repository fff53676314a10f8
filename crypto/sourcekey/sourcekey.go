package sourcekey

import (
	"crypto/sha256"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/hkdf"

	"sandyq/crypto/agekey"
	"sandyq/crypto/codename"
)

// PepperSize is the size of the instance pepper in bytes.
const PepperSize = 32

// HKDF info labels. Each output has its own label, so outputs are independent.
const (
	infoSourceID = "sandyq v1 source id"
	infoReplyKey = "sandyq v1 reply identity"
)

// Params are the Argon2id cost parameters.
type Params struct {
	Time      uint32 // passes over memory (t), ≥ 1
	MemoryKiB uint32 // memory in KiB (m), ≥ 8 × Threads, ≤ MaxMemoryKiB
	Threads   uint8  // lanes (p), ≥ 1; part of the result, not only a speed knob
}

// MaxMemoryKiB bounds Params.MemoryKiB (4 GiB), so that a bad configuration
// cannot make a derivation allocate without limit.
const MaxMemoryKiB = 4 << 20

// Default are the production parameters: t=3, m=64 MiB, p=4 (RFC 9106 §4,
// second recommended option). See the package documentation.
var Default = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// TestParams returns cheap parameters (t=1, m=64 KiB, p=1) for tests ONLY.
// Keys derived with them can be brute-forced quickly; never use them for an
// instance that real sources use.
func TestParams() Params {
	return Params{Time: 1, MemoryKiB: 64, Threads: 1}
}

// Check returns an error wrapping ErrParams if p is out of range.
func (p Params) Check() error {
	switch {
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("%w: time %d not in 1–64", ErrParams, p.Time)
	case p.Threads < 1:
		return fmt.Errorf("%w: threads must be at least 1", ErrParams)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in %d–%d", ErrParams, p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	}
	return nil
}

// String returns p as "argon2id t=3 m=65536 p=4".
func (p Params) String() string {
	return fmt.Sprintf("argon2id t=%d m=%d p=%d", p.Time, p.MemoryKiB, p.Threads)
}

// Keys are the keys derived from a codename.
type Keys struct {
	// SourceID identifies the source in the store.
	SourceID [32]byte
	// ReplyIdentity decrypts replies to the source. It is a secret.
	ReplyIdentity *age.HybridIdentity
}

// ReplyRecipient returns the "age1pq1…" recipient of k.ReplyIdentity, the
// only reply key the server stores.
func (k *Keys) ReplyRecipient() string {
	return k.ReplyIdentity.Recipient().String()
}

// Derive derives the keys of the source with the given codename, which must
// already be in the form returned by codename.Normalize, under the instance
// pepper (PepperSize bytes) with Argon2id parameters p.
//
// Derive costs what p says (by default 64 MiB and three passes): callers that
// serve the network must bound how many run at once. Errors never contain
// the codename or the pepper.
func Derive(name string, pepper []byte, p Params) (*Keys, error) {
	if len(pepper) != PepperSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPepperSize, len(pepper), PepperSize)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	if n, err := codename.Normalize(name); err != nil || n != name {
		return nil, ErrNotNormalized
	}
	master := argon2.IDKey([]byte(name), pepper, p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(master)

	k := &Keys{}
	if err := expand(master, infoSourceID, k.SourceID[:]); err != nil {
		return nil, err
	}
	seed := make([]byte, 32)
	defer clear(seed)
	if err := expand(master, infoReplyKey, seed); err != nil {
		return nil, err
	}
	id, err := agekey.HybridFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("reply identity: %w", err)
	}
	k.ReplyIdentity = id
	return k, nil
}

func expand(master []byte, info string, out []byte) error {
	r := hkdf.New(sha256.New, master, nil, []byte(info))
	if _, err := io.ReadFull(r, out); err != nil {
		return fmt.Errorf("hkdf: %w", err)
	}
	return nil
}
