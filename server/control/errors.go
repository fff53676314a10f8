package control

import (
	"errors"
	"fmt"
)

var (
	// ErrRunning is returned by Listen when a server answers on the socket.
	ErrRunning = errors.New("another sandyq serve is running on this data directory")
	// ErrNotRunning is wrapped by the errors of Call and CallStream when no
	// server listens on the socket (no socket file, or nobody behind it):
	// the caller may open the store itself.
	ErrNotRunning = errors.New("no sandyq serve is running on this data directory")
	// ErrTruncated is wrapped by the error of CallStream when the stream
	// ended without its final frame.
	ErrTruncated = errors.New("the stream ended before its end mark (truncated)")
)

// Error codes sent to clients; see the package documentation.
const (
	CodeInvalid   = "invalid"
	CodeNotFound  = "not_found"
	CodeConflict  = "conflict"
	CodeUnknownOp = "unknown_op"
	CodeFailed    = "failed"
	CodeInternal  = "internal"
)

// Error is an operation's failure: a message for the admin and a code for
// programs. Handlers return it (see Errorf) to choose the code; Call and
// CallStream return it, with the code the server sent, when an operation
// fails on the server.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "control: the operation failed (" + e.Code + ")"
	}
	return e.Msg
}

// Errorf returns an *Error with the given code and a formatted message.
// The message goes to the client as it is: it must not hold secrets.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// asError turns a handler's error into what is sent: the whole message, and
// the code of the first *Error in its chain, or CodeFailed.
func asError(err error) *Error {
	e := &Error{Code: CodeFailed, Msg: err.Error()}
	var ce *Error
	if errors.As(err, &ce) && ce.Code != "" {
		e.Code = ce.Code
	}
	if e.Msg == "" {
		e.Msg = "control: the operation failed"
	}
	return e
}
