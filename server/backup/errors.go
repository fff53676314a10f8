package backup

import "errors"

// Errors returned by [Write], [Restore] and [Inspect]. Use [errors.Is]: they
// are wrapped with detail saying what failed. No error of this package
// contains a key, the pepper or any byte of the store; names of archive
// entries are quoted and cut to a short length.
var (
	// ErrNotBackup is returned when the input is not an age file at all.
	ErrNotBackup = errors.New("backup: not a sandyq backup (not an age-encrypted file)")

	// ErrIdentity is returned when none of the identities given can decrypt
	// the backup. The error also wraps age.ErrIncorrectIdentity.
	ErrIdentity = errors.New("backup: none of the identities can decrypt this backup")

	// ErrDamaged is returned when the encrypted file is truncated or was
	// changed: age authenticates every 64 KiB chunk and the end of the file.
	ErrDamaged = errors.New("backup: the file is damaged or truncated")

	// ErrMalformed is returned when the decrypted archive breaks the format
	// (docs/format.md, "Backups"): an unknown, duplicate or misplaced entry,
	// a link or a directory, an entry over its size cap, a manifest that
	// does not match the entries, a key file that does not parse, or a
	// store that fails its check (then store.ErrCorrupt is wrapped too).
	// age only guarantees that the archive was encrypted to the newsroom's
	// recipients, which are public: it does not say who made it, so
	// everything inside is checked.
	ErrMalformed = errors.New("backup: malformed backup archive")

	// ErrDestination is returned by [Restore] when the destination exists
	// and is not an empty directory, and by [WriteFile] when the output
	// file exists. Nothing is overwritten, ever.
	ErrDestination = errors.New("backup: destination already exists")

	// ErrNoSpace is returned by [Restore] when the store in the backup is
	// larger than the free space where it would be restored.
	ErrNoSpace = errors.New("backup: not enough free disk space to restore")
)
