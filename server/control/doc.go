// Package control is the admin control socket of a running sandyq server: a
// unix socket, DIR/control.sock, through which "sandyq admin" asks
// "sandyq serve" to do what needs the store, whose file lock the server
// holds. When no server runs, [Call] returns an error wrapping
// [ErrNotRunning] and the admin command opens the store itself.
//
// The server side is [Listen], [Server.Handle], [Server.HandleStream],
// [Server.Serve] and [Server.Close]; the client side is [Call] and
// [CallStream]. The package is Linux-only (SO_PEERCRED, renameat2).
//
// # Access
//
// The socket is created with mode 0600 inside a fresh 0700 directory next
// to its final path and renamed there without replacing anything
// (renameat2 RENAME_NOREPLACE, or link(2) where the file system cannot), so
// it is never reachable with a wider mode, and no process umask is touched.
// A connection is served only if its peer credentials (SO_PEERCRED) name
// the server's own user or root; any other is logged with its uid and closed
// without an answer.
//
// If the path exists when [Listen] runs: a socket where a server accepts
// connections makes Listen fail with [ErrRunning]; a socket nobody listens
// on (left by a crash) is removed and replaced; anything that is not a
// socket is left alone and Listen fails. Two servers starting at the same
// instant are kept apart by the store's lock, which "sandyq serve" takes
// before it listens.
//
// # Protocol
//
// One request per connection. The client sends one line: a JSON object and
// a newline (0x0A),
//
//	{"v":1,"op":"journalist.add","args":{…}}
//
// of at most [MaxRequest] bytes, the newline included, complete within 10
// seconds of the connection being accepted. "v" must be 1; "op" is the
// operation's name (1 to 64 bytes of a–z, 0–9, '.', '_', '-', starting with
// a letter); "args" is any JSON value, or absent, and is handed to the
// operation as it is. Unknown fields and anything after the object are
// refused. The server reads nothing after the newline.
//
// The server answers with one JSON line and closes the connection:
//
//	{"ok":true,"result":…}
//	{"ok":false,"error":"no such journalist","code":"not_found"}
//
// "result" is absent when the operation returns nothing. An answer line is
// at most [MaxResponse] bytes. "error" is a message for the admin, "code"
// one for programs:
//
//	invalid     the request, or the operation's arguments, are malformed
//	not_found   the operation's object does not exist
//	conflict    the operation clashes with the current state
//	unknown_op  no operation has that name
//	failed      the operation failed (an error without a code)
//	internal    the server failed: an operation panicked, or its result
//	            does not encode as JSON or is over MaxResponse
//
// An operation sets the code by returning an [*Error] (see [Errorf]), which
// may be wrapped; its whole message is sent as it is, so operations must
// write messages that are safe to show.
//
// A stream operation (a hot backup, say) answers
//
//	{"ok":true,"stream":true}
//
// and then a sequence of frames, each a 4-byte big-endian length L and:
//
//	1 ≤ L ≤ MaxFrame   L bytes of the stream
//	L = 0              nothing: the stream is complete
//	L = 0xFFFFFFFF     one error line as above: the stream failed
//
// after which the server closes the connection. Any other length is a
// protocol error. A stream that ends without a final frame of length 0 — the
// connection closed early, the server killed — is an error for the client
// ([ErrTruncated]); the server never sends the final frame after a failed
// write. A partial stream is never taken for a complete one; the bytes that
// arrived before an error must be discarded by the caller.
//
// # Limits and timeouts
//
// The server serves at most 16 connections at once; more wait in the
// kernel's accept queue. It reads a request with a 10-second deadline and
// holds at most MaxRequest bytes of it; each write it makes must progress
// within 30 seconds, or the client is dropped. [Call] gives up when its
// context ends, or after 30 seconds if the context has no deadline.
// [CallStream] gives up when its context ends, or when the server sends
// nothing for 30 seconds.
//
// # Logging
//
// The server logs operation names, error codes and refused uids, never an
// operation's arguments, results or error messages (they may hold keys).
package control
