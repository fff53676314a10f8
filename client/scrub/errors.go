package scrub

import "errors"

// Errors returned by [Scrub], wrapped with detail. After any error the
// output is incomplete and must be discarded.
var (
	// ErrTruncated means the input ended before the format's end marker
	// (JPEG EOI, PNG IEND, GIF trailer).
	ErrTruncated = errors.New("file ends early")

	// ErrMalformed means the input does not follow its format's structure:
	// a bad marker, chunk length or block, or a segment in the wrong place.
	ErrMalformed = errors.New("malformed file")

	// ErrChecksum means a PNG chunk that would be kept has a wrong CRC.
	ErrChecksum = errors.New("chunk checksum mismatch")

	// ErrUnsupported means the input uses a feature that the scrubber cannot
	// handle safely, such as an unknown critical PNG chunk.
	ErrUnsupported = errors.New("unsupported file feature")
)
