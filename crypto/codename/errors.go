package codename

import "errors"

var (
	// ErrTooLong is returned by Normalize for input longer than MaxInput
	// bytes. It is returned before any other work is done.
	ErrTooLong = errors.New("codename is too long")

	// ErrInvalid is returned by Normalize for anything that is not a valid
	// codename. Errors wrapping it may say why (word count, position of an
	// unknown word) but never contain the input.
	ErrInvalid = errors.New("not a valid codename")
)
