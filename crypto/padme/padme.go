// Package padme computes Padmé padded lengths.
//
// Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
// Communication with PURBs", PETS 2019, §4) rounds a length L up so that only
// the top O(log log L) bits of the padded length can be non-zero. The padded
// length leaks O(log log L) bits about L, and the overhead is at most 11.12%
// (and tends to 0 for large L).
//
// For L ≥ 2:
//
//	E        = ⌊log₂ L⌋
//	S        = ⌊log₂ E⌋ + 1
//	lastBits = E − S
//	mask     = 2^lastBits − 1
//	Len(L)   = (L + mask) &^ mask
//
// # Small lengths
//
// The formula is undefined for L = 0 and L = 1 (log₂ 0). This package defines
// Len(0) = 0 and Len(1) = 1. For L < 8, lastBits is 0 and Len(L) = L: such
// lengths are not padded at all. The first padded length is Len(9) = 10.
// sandyq envelopes are always longer than 100 bytes, so this does not matter
// there.
package padme

import "math/bits"

// MaxLen is the largest input accepted by [Len]. Len(MaxLen) fits in an int64.
const MaxLen = 1 << 62

// Len returns the Padmé padded length of n.
//
// Len panics if n is negative or larger than [MaxLen]: lengths come from
// counted bytes, so either is a bug in the caller.
func Len(n int64) int64 {
	if n < 0 || n > MaxLen {
		panic("padme: length out of range")
	}
	if n < 2 {
		return n
	}
	e := bits.Len64(uint64(n)) - 1 // ⌊log₂ n⌋
	s := bits.Len64(uint64(e))     // ⌊log₂ e⌋ + 1
	lastBits := e - s
	mask := int64(1)<<lastBits - 1
	return (n + mask) &^ mask
}

// Overhead returns Len(n) − n, the number of padding bytes for length n.
func Overhead(n int64) int64 {
	return Len(n) - n
}
