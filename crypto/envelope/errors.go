package envelope

import "errors"

var (
	// ErrUnsupportedVersion is returned for an envelope of another version.
	ErrUnsupportedVersion = errors.New("unsupported envelope version")

	// ErrMalformedHeader is returned for a header that does not follow the
	// format (bad magic, kind, field lengths, file fields on a non-file), and
	// by Seal for a Header that cannot be encoded.
	ErrMalformedHeader = errors.New("malformed envelope header")

	// ErrMalformedFrame is returned for a content frame that is too long, or
	// a short frame that is not the last one.
	ErrMalformedFrame = errors.New("malformed envelope frame")

	// ErrTruncated is returned when the plaintext ends before the envelope
	// does.
	ErrTruncated = errors.New("envelope is truncated")

	// ErrTrailerMismatch is returned when the trailer's content length or
	// SHA-256 does not match what was read.
	ErrTrailerMismatch = errors.New("envelope trailer does not match its content")

	// ErrBadPadding is returned when a padding byte is not zero.
	ErrBadPadding = errors.New("envelope padding is not zero")

	// ErrTrailingData is returned when bytes follow the padding.
	ErrTrailingData = errors.New("envelope has data after its padding")

	// ErrContextMismatch is returned by Header.Matches when an envelope's
	// header is not the one expected (for example, an item moved between
	// sources).
	ErrContextMismatch = errors.New("envelope header does not match its context")

	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("envelope writer is closed")
)
