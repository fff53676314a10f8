package store

import "errors"

// Sentinel errors. Test for them with [errors.Is]; the error returned usually
// wraps one of them with detail about what failed. No error from this package
// contains plaintext, a source ID, a codename or a file name.
var (
	// ErrLocked means another process holds the store file open read-write
	// (usually a running "sandyq serve"). Open returns it within
	// Options.LockTimeout instead of waiting forever.
	ErrLocked = errors.New("store is locked by another process (is sandyq serve running?)")

	// ErrCorrupt means the file, a record in it, or an item's ciphertext is
	// damaged: it is not a bbolt file, a page or record fails validation, a
	// stored size or SHA-256 does not match. The wrapping error says where.
	// Nothing read from a store that returned ErrCorrupt should be trusted.
	ErrCorrupt = errors.New("store is damaged")

	// ErrVersion means the file was written by a newer schema version than
	// this program knows, or needs a migration but was opened read-only.
	ErrVersion = errors.New("store schema version is not supported")

	// ErrPermissions means the store file can be read or written by group or
	// others. Open refuses such a file; chmod it to 0600.
	ErrPermissions = errors.New("store file is accessible by group or others (chmod 600 it)")

	// ErrNotFound means the source, item, reply, recipient set, journalist
	// or setting does not exist (or is not visible yet).
	ErrNotFound = errors.New("not found")

	// ErrExists means a record with the same ID already exists.
	ErrExists = errors.New("already exists")

	// ErrClosed means the Store (or the ItemWriter) was closed.
	ErrClosed = errors.New("store is closed")

	// ErrReadOnly means a write was attempted on a store opened with
	// Options.ReadOnly.
	ErrReadOnly = errors.New("store is opened read-only")

	// ErrAborted means an ItemWriter was aborted (or failed earlier) and
	// can no longer be written or committed.
	ErrAborted = errors.New("item upload was aborted")

	// ErrCommitted means an ItemWriter was already committed.
	ErrCommitted = errors.New("item was already committed")

	// ErrTooLarge means a value is over its documented cap (reply size,
	// recipient set, record, key).
	ErrTooLarge = errors.New("value too large")

	// ErrInvalid means an argument is malformed (empty key, bad kind, …).
	ErrInvalid = errors.New("invalid argument")
)
