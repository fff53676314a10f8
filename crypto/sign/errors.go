package sign

import "errors"

var (
	// ErrSecretKey is returned when a secret key is given where a public key
	// belongs. Its message says so and never contains the key.
	ErrSecretKey = errors.New("this is a secret key: it must not be shared; give the public key instead")

	// ErrWrongKind is returned when a key of another kind is parsed, for
	// example an access key where a newsroom key is expected.
	ErrWrongKind = errors.New("wrong kind of key")

	// ErrMalformedKey is returned for a key string that is not a valid
	// encoding of a key of the expected kind.
	ErrMalformedKey = errors.New("malformed key")

	// ErrUnknownKind is returned for a Kind other than the known ones.
	ErrUnknownKind = errors.New("unknown key kind")
)
