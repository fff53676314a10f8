package bundle

import (
	"encoding/binary"
	"fmt"

	"sandyq/crypto/sign"
)

// Format constants. The byte layout is specified in docs/format.md
// ("Bundles").
const (
	// Magic starts every bundle of format version 1.
	Magic = "sandyq-bundle/1\n"

	// Version is the format version written and read by this package.
	Version = 1

	// HeaderSize is the size of the fixed header that precedes the
	// manifest: magic, type, reserved bytes, signer key, manifest length and
	// signature.
	HeaderSize = 124

	// MaxManifestSize is the largest manifest a reader accepts, in bytes.
	MaxManifestSize = 16 << 20

	// MaxItems is the largest number of items (or replies) in a bundle,
	// and of sources in a submissions bundle.
	MaxItems = 100_000

	// MaxRecipientSize is the longest reply recipient string accepted.
	// A post-quantum age recipient is about 1,950 characters.
	MaxRecipientSize = 4096

	// DefaultMaxTotalSize is the default limit on the sum of item sizes
	// ([ReaderOptions.MaxTotalSize]): 64 GiB.
	DefaultMaxTotalSize = 64 << 30
)

// magicPrefix is what every version of the format starts with.
const magicPrefix = "sandyq-bundle/"

// Offsets in the fixed header.
const (
	offType        = 16
	offReserved    = 17
	offSigner      = 20
	offManifestLen = 52
	offSignature   = 60
	signatureSize  = 64
	signedHeader   = offSignature // header bytes covered by the signature
)

// Type says what a bundle carries and who signs it.
type Type uint8

// The bundle types.
const (
	// Submissions is a bundle of sources' items from the server to the
	// journalists' offline client, signed with the server's instance key.
	Submissions Type = 1
	// Replies is a bundle of replies from a journalist's offline client to
	// the server, signed with the journalist's access key.
	Replies Type = 2
	// Rewraps is a bundle of new ciphertexts for items already on the
	// server, re-encrypted offline to another recipient set, from a
	// journalist's offline client to the server, signed with the
	// journalist's access key.
	Rewraps Type = 3
)

// String returns the type's name as it appears in the manifest.
func (t Type) String() string {
	switch t {
	case Submissions:
		return "submissions"
	case Replies:
		return "replies"
	case Rewraps:
		return "rewrap"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// signerKind is the kind of key that signs bundles of type t.
func (t Type) signerKind() (sign.Kind, bool) {
	switch t {
	case Submissions:
		return sign.Instance, true
	case Replies, Rewraps:
		return sign.Access, true
	}
	return "", false
}

// signatureContext is the domain separation string of bundles of type t.
// It differs per type, so a signature over one type of bundle can never
// verify as another, and from every other use of the same keys.
func (t Type) signatureContext() string {
	switch t {
	case Submissions:
		return "sandyq-bundle-v1-submissions"
	case Replies:
		return "sandyq-bundle-v1-replies"
	case Rewraps:
		return "sandyq-bundle-v1-rewrap"
	}
	panic("bundle: no signature context for " + t.String())
}

// Kind says what an item of a submissions bundle is. The values are those
// of the envelope and the store.
type Kind uint8

// The item kinds a submissions bundle may carry.
const (
	Message Kind = 1 // a source's message
	File    Kind = 2 // a file a source uploaded
)

// String returns the kind's name as it appears in the manifest.
func (k Kind) String() string {
	switch k {
	case Message:
		return "message"
	case File:
		return "file"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func parseKind(s string) (Kind, bool) {
	switch s {
	case "message":
		return Message, true
	case "file":
		return File, true
	}
	return 0, false
}

// header is the fixed header without its signature.
type header struct {
	typ         Type
	signer      []byte // 32-byte Ed25519 public key
	manifestLen uint64
}

// marshal returns the first signedHeader bytes of the header.
func (h *header) marshal() []byte {
	b := make([]byte, signedHeader, HeaderSize)
	copy(b, Magic)
	b[offType] = byte(h.typ)
	copy(b[offSigner:offManifestLen], h.signer)
	binary.BigEndian.PutUint64(b[offManifestLen:], h.manifestLen)
	return b
}

// signedMessage is what the signature covers: the header up to the
// signature, then the manifest.
func signedMessage(hdr, manifest []byte) []byte {
	msg := make([]byte, 0, len(hdr)+len(manifest))
	msg = append(msg, hdr[:signedHeader]...)
	return append(msg, manifest...)
}

// TypeOf returns the type a bundle declares in its header, of which b
// holds at least the first len(Magic)+1 bytes. Nothing is verified: it
// tells a tool which reader to use ([NewReader] then checks everything,
// the type included). It returns ErrNotBundle, ErrUnsupportedVersion or
// ErrTruncated for bytes that are not the start of a version 1 bundle.
func TypeOf(b []byte) (Type, error) {
	if err := checkMagic(b); err != nil {
		return 0, err
	}
	if len(b) <= offType {
		return 0, fmt.Errorf("%w: reading header", ErrTruncated)
	}
	return Type(b[offType]), nil
}
