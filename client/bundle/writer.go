package bundle

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"

	"sandyq/crypto/sign"
)

// Writer writes a bundle: [NewWriter] writes the header, the manifest and
// its signature; [Writer.WriteItem] streams each item in manifest order;
// [Writer.Close] checks that every item was written.
//
// Memory use does not depend on item sizes. After any error the output is
// unusable (a reader would refuse it) and every later call returns the
// same error.
type Writer struct {
	w    io.Writer
	m    *Manifest
	next int   // index of the next item to write
	err  error // sticky
	buf  []byte
}

// NewWriter validates m, signs it with signer and writes the bundle's
// header and manifest to w. The signer must be an instance key for a
// submissions bundle and an access key for a reply or rewrap bundle; m.Signer may be
// nil or must equal signer's public key. NewWriter keeps its own copy of m.
func NewWriter(w io.Writer, m *Manifest, signer *sign.PrivateKey) (*Writer, error) {
	if signer == nil {
		return nil, fmt.Errorf("bundle: no signer")
	}
	kind, ok := m.Type.signerKind()
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %d", ErrWrongType, uint8(m.Type))
	}
	pub := signer.Public()
	if signer.Kind() != kind {
		return nil, fmt.Errorf("bundle: a %s bundle must be signed with an %s key, not a %s key", m.Type, kind, signer.Kind())
	}
	if m.Signer != nil && !m.Signer.Equal(pub) {
		return nil, fmt.Errorf("bundle: manifest signer is not the signing key")
	}
	mc := *m
	mc.Signer = pub
	mc.Sources = append([]Source(nil), m.Sources...)
	mc.Items = append([]Item(nil), m.Items...)
	mc.Replies = append([]Reply(nil), m.Replies...)
	mc.Rewraps = append([]Rewrap(nil), m.Rewraps...)
	if err := mc.validate(1<<63 - 1); err != nil {
		return nil, err
	}
	body, err := mc.marshal()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest of %d bytes, more than %d", ErrTooLarge, len(body), MaxManifestSize)
	}
	h := header{typ: mc.Type, signer: pub.Bytes(), manifestLen: uint64(len(body))}
	hdr := h.marshal()
	sig := signer.Sign(mc.Type.signatureContext(), signedMessage(hdr, body))
	hdr = append(hdr, sig...)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("bundle: writing header: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return nil, fmt.Errorf("bundle: writing manifest: %w", err)
	}
	return &Writer{w: w, m: &mc}, nil
}

// Next returns the manifest entry of the item that [Writer.WriteItem]
// expects next, and false when all items were written.
func (w *Writer) Next() (Entry, bool) {
	if w.next >= w.m.count() {
		return Entry{}, false
	}
	return w.m.entry(w.next), true
}

// WriteItem copies the next item's bytes from r to the bundle. r must
// yield exactly the size listed in the manifest and then io.EOF, and the
// bytes must have the listed SHA-256; otherwise WriteItem returns an
// [ItemError] wrapping ErrItemMismatch (the bytes are already written: the
// output must be discarded).
func (w *Writer) WriteItem(r io.Reader) error {
	if w.err != nil {
		return w.err
	}
	e, ok := w.Next()
	if !ok {
		w.err = fmt.Errorf("%w: more items than the manifest lists", ErrIncomplete)
		return w.err
	}
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	h := sha256.New()
	// One byte more than the size, to notice a longer item.
	n, err := io.CopyBuffer(io.MultiWriter(w.w, h), io.LimitReader(r, e.Size+1), w.buf)
	if err != nil {
		w.err = &ItemError{ID: e.ID, Err: fmt.Errorf("writing: %w", err)}
		return w.err
	}
	if n != e.Size || subtle.ConstantTimeCompare(h.Sum(nil), e.SHA256[:]) != 1 {
		w.err = &ItemError{ID: e.ID, Err: ErrItemMismatch}
		return w.err
	}
	w.next++
	return nil
}

// Close reports whether every item of the manifest was written. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.next != w.m.count() {
		w.err = fmt.Errorf("%w: %d of %d items written", ErrIncomplete, w.next, w.m.count())
		return w.err
	}
	return nil
}
