package bundle

import (
	"encoding/hex"
	"errors"
	"strings"
)

// Errors returned by [NewReader], [Reader.Next] and the item readers. Use
// [errors.Is]: they are usually wrapped with detail. Their messages never
// contain file names, item contents, keys or source IDs; errors about one
// item name its item ID (see [ItemError]).
var (
	// ErrNotBundle is returned when the input does not start with the
	// bundle magic "sandyq-bundle/".
	ErrNotBundle = errors.New("bundle: not a sandyq bundle")

	// ErrUnsupportedVersion is returned for a bundle of a format version
	// this package does not read.
	ErrUnsupportedVersion = errors.New("bundle: unsupported bundle version")

	// ErrWrongType is returned when a bundle of another type than the
	// expected one is read, for example a reply bundle where a submissions
	// bundle is expected, or a type this version does not know.
	ErrWrongType = errors.New("bundle: wrong bundle type")

	// ErrMalformedHeader is returned for a fixed header that breaks a rule
	// of the format: non-zero reserved bytes, a manifest length of zero.
	ErrMalformedHeader = errors.New("bundle: malformed header")

	// ErrTooLarge is returned when a bundle exceeds a limit: the manifest
	// size (MaxManifestSize), the number of items (MaxItems), or the total
	// item size the caller allows (ReaderOptions.MaxTotalSize).
	ErrTooLarge = errors.New("bundle: over a size limit")

	// ErrBadSignature is returned when the signature does not verify: the
	// header or the manifest was changed, damaged, or signed for another
	// purpose. Nothing from the manifest is returned then.
	ErrBadSignature = errors.New("bundle: bad signature")

	// ErrUntrustedSigner is returned when the bundle is validly signed by a
	// key the caller does not trust, for example another server's instance
	// key.
	ErrUntrustedSigner = errors.New("bundle: signed by an untrusted key")

	// ErrMalformedManifest is returned for a signed manifest that is not
	// strict, canonical JSON of the expected schema: invalid UTF-8, a
	// duplicate or unknown key, a missing field, a value of the wrong type,
	// trailing data.
	ErrMalformedManifest = errors.New("bundle: malformed manifest")

	// ErrInvalidManifest is returned for a well-formed manifest that breaks
	// a rule of the format: unsorted or duplicate IDs, a negative size, an
	// item of an unlisted source, a hex field of the wrong length, an
	// unknown kind.
	ErrInvalidManifest = errors.New("bundle: invalid manifest")

	// ErrTruncated is returned when the input ends before the bundle does.
	ErrTruncated = errors.New("bundle: truncated")

	// ErrItemHash is returned (inside an [ItemError]) at the end of an item
	// whose bytes do not have the SHA-256 the manifest lists: the item was
	// damaged or replaced. Its bytes must be discarded.
	ErrItemHash = errors.New("bundle: item does not match its SHA-256 in the manifest")

	// ErrTrailingData is returned by [Reader.Next] when bytes follow the
	// last item.
	ErrTrailingData = errors.New("bundle: trailing data after the last item")

	// ErrItemMismatch is returned by [Writer.WriteItem] when the bytes
	// given for an item do not have the size and SHA-256 the manifest
	// lists. The output is unusable after it.
	ErrItemMismatch = errors.New("bundle: item does not match the manifest")

	// ErrIncomplete is returned by [Writer.Close] when fewer items were
	// written than the manifest lists, and by [Writer.WriteItem] when more
	// are written.
	ErrIncomplete = errors.New("bundle: item count does not match the manifest")

	// ErrPinMismatch is returned when a key other than the pinned one is
	// presented or pinned.
	ErrPinMismatch = errors.New("bundle: key differs from the pinned key")

	// ErrNotPinned is returned by [Pinned] trust when no key is pinned and
	// by a pin file reader for an empty pin.
	ErrNotPinned = errors.New("bundle: no key pinned")
)

// ItemError is an error about one item of a bundle. It names the item by
// its ID, which is random and says nothing about its content or source.
type ItemError struct {
	ID  [16]byte // item or reply ID
	Err error    // ErrItemHash, ErrTruncated, or an I/O error
}

func (e *ItemError) Error() string {
	return "bundle: item " + hex.EncodeToString(e.ID[:]) + ": " + strings.TrimPrefix(e.Err.Error(), "bundle: ")
}

func (e *ItemError) Unwrap() error { return e.Err }
