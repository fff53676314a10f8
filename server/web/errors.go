package web

import "errors"

// Errors returned by [New] and by the functions a [Config] supplies. The
// handler itself never shows an error's text to a client: a request that
// fails gets a generic page in the client's language.
var (
	// ErrConfig is returned by [New] when a required [Config] field is
	// missing or out of range. The wrapping error names the field.
	ErrConfig = errors.New("web: invalid configuration")

	// ErrNoRecipientSet is what [Config.RecipientSet] returns when no
	// recipient set is installed (returning a nil set means the same). The
	// submission form is then closed and nothing is accepted.
	ErrNoRecipientSet = errors.New("web: no recipient set installed")
)

// Internal, request-level failures. They decide the status and the page a
// client sees; their text is never sent.
var (
	errBadRequest   = errors.New("malformed request")
	errForbidden    = errors.New("csrf token missing or wrong")
	errTooLarge     = errors.New("request body too large")
	errMessageLarge = errors.New("message too long")
	errPartHeader   = errors.New("multipart part header too large")
	errTooManyParts = errors.New("too many multipart parts")
	errBusy         = errors.New("server busy")
	errEmpty        = errors.New("nothing submitted")
	errCodename     = errors.New("message contains the codename")

	// errStore marks a failure on the server's side (store, envelope): the
	// client gets a 500 page and the error is logged (it holds no client
	// data: neither package puts any in its errors).
	errStore = errors.New("storing the submission failed")
)
