// Package envelope seals and opens sandyq items: age-encrypted files whose
// plaintext binds the content to its context.
//
// An item's age plaintext is
//
//	header | framed content | trailer | padding
//
// The header carries the item ID, the source ID, the kind, the per-source
// sequence number and, for files only, the original filename and media type.
// The content follows in length-prefixed frames of at most [FrameSize] bytes,
// ended by an empty frame, so that it can be written and read as a stream
// with constant memory. The trailer holds the content length and the SHA-256
// of header||content. Zero bytes then pad the whole plaintext to its Padmé
// length (package sandyq/crypto/padme), so that stored sizes leak little.
// docs/format.md gives the byte layout.
//
// [Seal] returns an io.WriteCloser that encrypts as it is written to;
// Close writes the trailer and the padding and finishes the age file. [Open]
// decrypts and parses the header at once, then returns a [Reader] whose Read
// returns the content. Read returns io.EOF only after the trailer and every
// padding byte were checked and the age file ended exactly there; any other
// end is one of this package's errors ([ErrTruncated], [ErrTrailerMismatch],
// [ErrBadPadding], [ErrMalformedFrame], [ErrTrailingData]…). A caller that
// acts on content before io.EOF must be prepared to throw it away.
//
// age's own errors (a wrong identity, a tampered ciphertext) are wrapped,
// not replaced: errors.Is(err, age.ErrIncorrectIdentity) and errors.As with
// *age.NoIdentityMatchError keep working.
//
// Reading an item tells who it claims to be about, not that it is where it
// should be: a server could move an item to another source. Callers compare
// the header with what they expected using [Header.Matches], which returns
// [ErrContextMismatch] on any difference.
package envelope
