package sourcekey

import "errors"

var (
	// ErrPepperSize is returned when the pepper is not PepperSize bytes.
	ErrPepperSize = errors.New("instance pepper has the wrong size")

	// ErrNotNormalized is returned when the codename given to Derive is not
	// in the canonical form returned by codename.Normalize.
	ErrNotNormalized = errors.New("codename is not normalized")

	// ErrParams is returned for Argon2id parameters out of range.
	ErrParams = errors.New("invalid key derivation parameters")
)
