package recipients

import "errors"

var (
	// ErrSecretKey is returned when a secret key (an age identity, or a
	// sandyq secret key) is given where a recipient belongs. Its message says
	// so; it never contains the key.
	ErrSecretKey = errors.New("this is a secret key, not a recipient: it must not be shared; give its public recipient (age1pq1…) instead")

	// ErrBadRecipient is returned for a string that is not a supported age
	// recipient. The error says why, without repeating the string.
	ErrBadRecipient = errors.New("invalid recipient")

	// ErrMixedKinds is returned for a set with both post-quantum and X25519
	// recipients, which age cannot encrypt to together.
	ErrMixedKinds = errors.New("recipient set mixes post-quantum and X25519 recipients")

	// ErrEmptySet is returned for a set with no recipients.
	ErrEmptySet = errors.New("recipient set is empty")

	// ErrDuplicate is returned for a set that lists a recipient twice.
	ErrDuplicate = errors.New("recipient set lists a recipient twice")

	// ErrTooMany is returned for a set of more than MaxRecipients.
	ErrTooMany = errors.New("recipient set has too many recipients")

	// ErrBadWindow is returned for a validity window that is empty or out
	// of range.
	ErrBadWindow = errors.New("invalid validity window")

	// ErrMalformed is returned for a signed statement that does not follow
	// the format. Errors wrapping it give the line number.
	ErrMalformed = errors.New("malformed recipient set")

	// ErrTooLarge is returned for a signed statement over MaxSize bytes.
	// It wraps ErrMalformed.
	ErrTooLarge = errors.New("recipient set is too large")

	// ErrWrongSigner is returned when a statement is signed by another key
	// than the pinned newsroom key.
	ErrWrongSigner = errors.New("recipient set is not signed by the newsroom key")

	// ErrBadSignature is returned when the signature does not verify.
	ErrBadSignature = errors.New("recipient set signature is invalid")

	// ErrNotYetValid and ErrExpired are returned by Set.CheckTime.
	ErrNotYetValid = errors.New("recipient set is not valid yet")
	ErrExpired     = errors.New("recipient set has expired")
)
