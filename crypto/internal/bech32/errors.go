package bech32

import "errors"

// Errors returned by Decode and Encode. Messages never contain the input.
var (
	ErrMixedCase    = errors.New("bech32: mixed case")
	ErrNoSeparator  = errors.New("bech32: missing separator '1'")
	ErrEmptyHRP     = errors.New("bech32: empty human-readable part")
	ErrInvalidChar  = errors.New("bech32: invalid character")
	ErrShortData    = errors.New("bech32: data part too short")
	ErrChecksum     = errors.New("bech32: invalid checksum")
	ErrPadding      = errors.New("bech32: invalid padding")
	ErrInvalidInput = errors.New("bech32: invalid human-readable part")
)
