package envelope

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Kind is what an item is. The values are those of the store.
type Kind uint8

const (
	Message Kind = 1 // a text message from a source
	File    Kind = 2 // a file from a source
	Reply   Kind = 3 // a reply from the newsroom to a source
)

func (k Kind) valid() bool { return k == Message || k == File || k == Reply }

const (
	magic   = "SANDYQ-E"
	version = 1

	// MaxFilename is the longest filename, in bytes.
	MaxFilename = 1024
	// MaxMediaType is the longest media type, in bytes.
	MaxMediaType = 255

	// fixedHeaderLen is the header length without filename and media type:
	// magic, version, item ID, source ID, kind, sequence, the two lengths.
	fixedHeaderLen = len(magic) + 1 + 16 + 32 + 1 + 8 + 2 + 1
)

// Header binds an item to its context. Filename and MediaType are set only
// for files.
type Header struct {
	ItemID    [16]byte
	SourceID  [32]byte
	Kind      Kind
	Sequence  uint64 // per-source sequence number assigned by the store
	Filename  string // files only: any bytes the source sent, at most MaxFilename
	MediaType string // files only: printable ASCII, at most MaxMediaType
}

// check returns an error wrapping ErrMalformedHeader if h cannot be encoded.
func (h *Header) check() error {
	switch {
	case !h.Kind.valid():
		return fmt.Errorf("%w: unknown kind %d", ErrMalformedHeader, h.Kind)
	case h.Kind != File && (h.Filename != "" || h.MediaType != ""):
		return fmt.Errorf("%w: filename and media type are for files only", ErrMalformedHeader)
	case len(h.Filename) > MaxFilename:
		return fmt.Errorf("%w: filename longer than %d bytes", ErrMalformedHeader, MaxFilename)
	case len(h.MediaType) > MaxMediaType:
		return fmt.Errorf("%w: media type longer than %d bytes", ErrMalformedHeader, MaxMediaType)
	}
	for i := 0; i < len(h.MediaType); i++ {
		if c := h.MediaType[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: media type is not printable ASCII", ErrMalformedHeader)
		}
	}
	return nil
}

// Len returns the encoded length of h in bytes.
func (h *Header) Len() int {
	return fixedHeaderLen + len(h.Filename) + len(h.MediaType)
}

// appendHeader appends the encoding of h, which must pass check.
func (h *Header) append(b []byte) []byte {
	b = append(b, magic...)
	b = append(b, version)
	b = append(b, h.ItemID[:]...)
	b = append(b, h.SourceID[:]...)
	b = append(b, byte(h.Kind))
	b = binary.BigEndian.AppendUint64(b, h.Sequence)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Filename)))
	b = append(b, h.Filename...)
	b = append(b, byte(len(h.MediaType)))
	return append(b, h.MediaType...)
}

// Matches returns nil if h equals want in every field, and an error wrapping
// ErrContextMismatch naming the first field that differs otherwise. The
// error never contains the values.
func (h *Header) Matches(want *Header) error {
	var field string
	switch {
	case h.ItemID != want.ItemID:
		field = "item ID"
	case h.SourceID != want.SourceID:
		field = "source ID"
	case h.Kind != want.Kind:
		field = "kind"
	case h.Sequence != want.Sequence:
		field = "sequence"
	case h.Filename != want.Filename:
		field = "filename"
	case h.MediaType != want.MediaType:
		field = "media type"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s differs", ErrContextMismatch, field)
}

// readHeader reads and parses a header from r. It returns the header and its
// exact bytes. It reads at most fixedHeaderLen+MaxFilename+MaxMediaType bytes.
func readHeader(r io.Reader) (*Header, []byte, error) {
	raw := make([]byte, len(magic)+1, fixedHeaderLen+64)
	if err := readFull(r, raw); err != nil {
		return nil, nil, err
	}
	if string(raw[:len(magic)]) != magic {
		return nil, nil, fmt.Errorf("%w: not a sandyq envelope", ErrMalformedHeader)
	}
	if raw[len(magic)] != version {
		return nil, nil, fmt.Errorf("%w: version %d", ErrUnsupportedVersion, raw[len(magic)])
	}
	fixed := make([]byte, 16+32+1+8+2)
	if err := readFull(r, fixed); err != nil {
		return nil, nil, err
	}
	raw = append(raw, fixed...)
	h := &Header{}
	copy(h.ItemID[:], fixed[0:16])
	copy(h.SourceID[:], fixed[16:48])
	h.Kind = Kind(fixed[48])
	h.Sequence = binary.BigEndian.Uint64(fixed[49:57])
	if !h.Kind.valid() {
		return nil, nil, fmt.Errorf("%w: unknown kind %d", ErrMalformedHeader, h.Kind)
	}
	fl := int(binary.BigEndian.Uint16(fixed[57:59]))
	if fl > MaxFilename {
		return nil, nil, fmt.Errorf("%w: filename longer than %d bytes", ErrMalformedHeader, MaxFilename)
	}
	rest := make([]byte, fl+1)
	if err := readFull(r, rest); err != nil {
		return nil, nil, err
	}
	raw = append(raw, rest...)
	h.Filename = string(rest[:fl])
	mt := make([]byte, rest[fl])
	if err := readFull(r, mt); err != nil {
		return nil, nil, err
	}
	raw = append(raw, mt...)
	h.MediaType = string(mt)
	if err := h.check(); err != nil {
		return nil, nil, err
	}
	return h, raw, nil
}

// readFull is io.ReadFull that reports a short read as ErrTruncated and
// passes other errors (such as age's) through, wrapped.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	switch err {
	case nil:
		return nil
	case io.EOF, io.ErrUnexpectedEOF:
		return ErrTruncated
	default:
		return fmt.Errorf("failed to read envelope: %w", err)
	}
}
