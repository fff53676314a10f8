package bundle

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"sandyq/crypto/sign"
)

// TrustFunc decides whether a key may sign the bundle being read. It is
// called with the signer's key only after the signature over the header
// and manifest verified, and before any manifest field is parsed. It
// returns nil to trust the key; any error refuses the bundle, wrapped
// together with ErrUntrustedSigner.
type TrustFunc func(signer *sign.PublicKey) error

// TrustKeys returns a TrustFunc that trusts exactly the given keys.
func TrustKeys(keys ...*sign.PublicKey) TrustFunc {
	return func(signer *sign.PublicKey) error {
		for _, k := range keys {
			if k != nil && k.Equal(signer) {
				return nil
			}
		}
		return errors.New("not a trusted key")
	}
}

// ReaderOptions are the limits of a [Reader]. The zero value is valid.
type ReaderOptions struct {
	// MaxTotalSize is the largest sum of item sizes accepted, checked
	// before any item is read. Zero means DefaultMaxTotalSize. A client
	// should pass the free space it is willing to use.
	MaxTotalSize int64
}

// Reader reads a bundle. [NewReader] verifies the header, the signature and
// the manifest; [Reader.Next] then streams the items in manifest order and
// each item's reader checks its size and SHA-256 at its end.
type Reader struct {
	r        *bufio.Reader
	manifest *Manifest
	next     int // index of the next item
	cur      *itemReader
	err      error // sticky
}

// NewReader reads and checks a bundle's header and manifest from r. The
// bundle must be of type want and signed by a key that trust accepts. In
// order, it:
//
//  1. reads the fixed header and refuses a wrong magic, version, type or
//     reserved bytes, and a manifest length over MaxManifestSize, before
//     allocating anything large;
//  2. reads the manifest and verifies the signature over the header and the
//     manifest with the signer key from the header, for the type's
//     signature context;
//  3. asks trust whether the signer may sign such a bundle;
//  4. parses the manifest strictly and checks every rule of the format and
//     opts' limits.
//
// Nothing of the manifest reaches the caller unless all of this succeeds.
func NewReader(r io.Reader, want Type, trust TrustFunc, opts *ReaderOptions) (*Reader, error) {
	if trust == nil {
		return nil, fmt.Errorf("bundle: no trust function")
	}
	kind, ok := want.signerKind()
	if !ok {
		return nil, fmt.Errorf("%w: cannot read bundles of type %d", ErrWrongType, uint8(want))
	}
	maxTotal := int64(DefaultMaxTotalSize)
	if opts != nil && opts.MaxTotalSize > 0 {
		maxTotal = opts.MaxTotalSize
	}
	br := bufio.NewReaderSize(r, 64<<10)

	hdr := make([]byte, HeaderSize)
	n, err := io.ReadFull(br, hdr)
	if err := checkMagic(hdr[:n]); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, truncated("reading header", err)
	}
	typ := Type(hdr[offType])
	if typ != want {
		return nil, fmt.Errorf("%w: %s bundle, expected %s", ErrWrongType, typ, want)
	}
	if hdr[offReserved] != 0 || hdr[offReserved+1] != 0 || hdr[offReserved+2] != 0 {
		return nil, fmt.Errorf("%w: reserved bytes are not zero", ErrMalformedHeader)
	}
	mlen := binary.BigEndian.Uint64(hdr[offManifestLen:])
	if mlen == 0 {
		return nil, fmt.Errorf("%w: empty manifest", ErrMalformedHeader)
	}
	if mlen > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest longer than %d bytes", ErrTooLarge, MaxManifestSize)
	}
	signer, err := sign.NewPublicKey(hdr[offSigner:offManifestLen], kind)
	if err != nil {
		return nil, fmt.Errorf("%w: signer key: %v", ErrMalformedHeader, err)
	}

	body, err := readManifest(br, int(mlen))
	if err != nil {
		return nil, err
	}
	if !signer.Verify(typ.signatureContext(), signedMessage(hdr, body), hdr[offSignature:]) {
		return nil, ErrBadSignature
	}
	if err := trust(signer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedSigner, err)
	}
	m, err := parseManifest(body, typ, signer, maxTotal)
	if err != nil {
		return nil, err
	}
	return &Reader{r: br, manifest: m}, nil
}

// checkMagic checks what was read of the magic.
func checkMagic(b []byte) error {
	p := min(len(b), len(magicPrefix))
	if string(b[:p]) != magicPrefix[:p] {
		return ErrNotBundle
	}
	if len(b) < len(Magic) {
		return nil // truncated; said by the caller
	}
	if string(b[:len(Magic)]) != Magic {
		return ErrUnsupportedVersion
	}
	return nil
}

// readManifest reads n bytes, growing its buffer as data arrives, so that a
// short input declaring a large manifest allocates little.
func readManifest(r io.Reader, n int) ([]byte, error) {
	const step = 64 << 10
	buf := make([]byte, 0, min(n, step))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), len(buf)))
		}
		k, err := io.ReadFull(r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, truncated("reading manifest", err)
		}
	}
	return buf, nil
}

func truncated(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %s", ErrTruncated, what)
	}
	return fmt.Errorf("bundle: %s: %w", what, err)
}

// Manifest returns the verified manifest. The caller must not modify it.
func (r *Reader) Manifest() *Manifest { return r.manifest }

// Next returns the next item's manifest entry and a reader of its bytes.
// The item's reader returns io.EOF only after the item's size and SHA-256
// matched the manifest; otherwise it returns an [ItemError] wrapping
// ErrItemHash or ErrTruncated, and everything read from it must be
// discarded.
//
// If the previous item was not read to its end, Next reads (and checks)
// the rest of it first. After the last item, Next checks that the input
// ends there (or returns ErrTrailingData) and returns io.EOF. Any error is
// returned again by every later call.
func (r *Reader) Next() (*Entry, io.Reader, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	if r.cur != nil {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			r.err = err
			return nil, nil, err
		}
		r.cur = nil
	}
	if r.next == r.manifest.count() {
		if _, err := r.r.ReadByte(); err == nil {
			r.err = ErrTrailingData
		} else if err == io.EOF {
			r.err = io.EOF
		} else {
			r.err = fmt.Errorf("bundle: reading after the last item: %w", err)
		}
		return nil, nil, r.err
	}
	e := r.manifest.entry(r.next)
	r.next++
	r.cur = &itemReader{parent: r, e: e, left: e.Size, h: sha256.New()}
	return &e, r.cur, nil
}

// itemReader reads one item and checks it at its end.
type itemReader struct {
	parent *Reader
	e      Entry
	left   int64
	h      hash.Hash
	err    error // sticky, including io.EOF
}

func (ir *itemReader) Read(p []byte) (int, error) {
	if ir.err != nil {
		return 0, ir.err
	}
	if ir.left == 0 {
		if subtle.ConstantTimeCompare(ir.h.Sum(nil), ir.e.SHA256[:]) != 1 {
			return 0, ir.fail(ErrItemHash)
		}
		ir.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > ir.left {
		p = p[:ir.left]
	}
	n, err := ir.parent.r.Read(p)
	ir.left -= int64(n)
	ir.h.Write(p[:n])
	if err == io.EOF && ir.left > 0 {
		return n, ir.fail(ErrTruncated)
	}
	if err != nil && err != io.EOF {
		return n, ir.fail(fmt.Errorf("reading: %w", err))
	}
	return n, nil
}

// fail records err for this item and the whole reader.
func (ir *itemReader) fail(err error) error {
	ir.err = &ItemError{ID: ir.e.ID, Err: err}
	ir.parent.err = ir.err
	return ir.err
}
