package envelope

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"

	"sandyq/crypto/padme"
)

// Reader reads the content of an envelope. Its Header is parsed and checked
// before Open or NewReader return.
type Reader struct {
	Header Header

	r         io.Reader
	hash      hash.Hash
	remaining int   // bytes left in the current frame
	short     bool  // the last frame was shorter than FrameSize
	content   int64 // content bytes read
	total     int64 // plaintext bytes consumed
	err       error // sticky; io.EOF once verified
}

// Open decrypts src with identities and reads the envelope header. age's
// errors are wrapped: errors.Is(err, age.ErrIncorrectIdentity) works.
func Open(src io.Reader, identities ...age.Identity) (*Reader, error) {
	pr, err := age.Decrypt(src, identities...)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return NewReader(pr)
}

// NewReader parses an already decrypted envelope. Low-level: most callers
// want Open.
func NewReader(plaintext io.Reader) (*Reader, error) {
	h, raw, err := readHeader(plaintext)
	if err != nil {
		return nil, err
	}
	r := &Reader{Header: *h, r: plaintext, hash: sha256.New(), total: int64(len(raw))}
	r.hash.Write(raw)
	return r, nil
}

// Read reads content. It returns io.EOF only after the end frame, the
// trailer, the padding and the end of the plaintext were verified.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for r.remaining == 0 {
		if err := r.nextFrame(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n, err := r.r.Read(p[:min(len(p), r.remaining)])
	r.remaining -= n
	r.content += int64(n)
	r.total += int64(n)
	r.hash.Write(p[:n])
	if err == io.EOF && r.remaining > 0 {
		err = ErrTruncated
	} else if err == io.EOF {
		err = nil // the end frame is still to come
	} else if err != nil {
		err = fmt.Errorf("failed to read envelope: %w", err)
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

// nextFrame reads a frame length. At the end frame, it verifies the rest of
// the envelope and returns io.EOF.
func (r *Reader) nextFrame() error {
	var lb [4]byte
	if err := readFull(r.r, lb[:]); err != nil {
		return err
	}
	r.total += 4
	l := binary.BigEndian.Uint32(lb[:])
	switch {
	case l == 0:
		return r.finish()
	case l > FrameSize:
		return fmt.Errorf("%w: frame of %d bytes", ErrMalformedFrame, l)
	case r.short:
		return fmt.Errorf("%w: short frame before the last", ErrMalformedFrame)
	}
	r.short = l < FrameSize
	r.remaining = int(l)
	return nil
}

func (r *Reader) finish() error {
	var t [trailerLen]byte
	if err := readFull(r.r, t[:]); err != nil {
		return err
	}
	r.total += trailerLen
	sum := r.hash.Sum(nil)
	if binary.BigEndian.Uint64(t[:8]) != uint64(r.content) {
		return fmt.Errorf("%w: content length", ErrTrailerMismatch)
	}
	if subtle.ConstantTimeCompare(sum, t[8:]) != 1 {
		return fmt.Errorf("%w: SHA-256", ErrTrailerMismatch)
	}
	pad := padme.Len(r.total) - r.total
	buf := make([]byte, min(pad, 4096)+1)
	for pad > 0 {
		k := min(pad, int64(len(buf)-1))
		if err := readFull(r.r, buf[:k]); err != nil {
			return err
		}
		for _, c := range buf[:k] {
			if c != 0 {
				return ErrBadPadding
			}
		}
		pad -= k
	}
	n, err := io.ReadFull(r.r, buf[:1])
	switch {
	case n > 0:
		return ErrTrailingData
	case err == io.EOF:
		return io.EOF
	default:
		return fmt.Errorf("failed to read envelope: %w", err)
	}
}

// ContentLength returns the number of content bytes read so far; after
// io.EOF it is the verified content length.
func (r *Reader) ContentLength() int64 { return r.content }
