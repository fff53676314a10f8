// Package agekey makes age post-quantum hybrid identities (ML-KEM-768 +
// X25519, "AGE-SECRET-KEY-PQ-1…") from randomness passed in, or from a seed.
//
// age v1.3.2 has no constructor for a hybrid identity other than
// [age.GenerateHybridIdentity], which reads crypto/rand itself, and
// [age.ParseHybridIdentity]. A hybrid secret key's text encoding is exactly the
// Bech32 (BIP-173 checksum, no length limit, upper case) of its 32-byte seed
// with the human-readable part "AGE-SECRET-KEY-PQ-", so this package builds
// that string and parses it:
//
//	identity = age.ParseHybridIdentity(Bech32("AGE-SECRET-KEY-PQ-", seed))
//
// A seed of any other length is refused.
package agekey

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"sandyq/crypto/internal/bech32"
)

// SeedSize is the size of a hybrid identity's seed in bytes.
const SeedSize = 32

// hrp is the human-readable part of age hybrid secret keys.
const hrp = "AGE-SECRET-KEY-PQ-"

// ErrSeedSize is returned when a seed is not SeedSize bytes.
var ErrSeedSize = errors.New("age identity seed has the wrong size")

// GenerateHybrid returns a new hybrid identity whose seed is read from rand
// (crypto/rand.Reader in production).
func GenerateHybrid(rand io.Reader) (*age.HybridIdentity, error) {
	seed := make([]byte, SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	return HybridFromSeed(seed)
}

// HybridFromSeed returns the hybrid identity with the given SeedSize-byte
// seed. The same seed always gives the same identity. Errors never contain
// the seed.
func HybridFromSeed(seed []byte) (*age.HybridIdentity, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrSeedSize, len(seed), SeedSize)
	}
	s, err := bech32.Encode(hrp, seed)
	if err != nil {
		panic("agekey: internal error: " + err.Error())
	}
	if s != strings.ToUpper(s) {
		panic("agekey: internal error: secret key encoding not upper case")
	}
	id, err := age.ParseHybridIdentity(s)
	if err != nil {
		// age's message does not contain the key; do not wrap anything that
		// might in a future version.
		return nil, errors.New("failed to build the age hybrid identity")
	}
	return id, nil
}
