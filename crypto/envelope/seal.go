package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"

	"sandyq/crypto/padme"
)

// FrameSize is the largest content frame. Every frame but the last non-empty
// one is exactly this long.
const FrameSize = 64 << 10

// trailerLen is the length of the trailer: content length and SHA-256.
const trailerLen = 8 + sha256.Size

// PaddedSize returns the length of the age plaintext of an envelope with
// header h and contentLen bytes of content: the Padmé length of header,
// frames, end frame and trailer.
func PaddedSize(h *Header, contentLen int64) int64 {
	return padme.Len(unpaddedSize(int64(h.Len()), contentLen))
}

func unpaddedSize(headerLen, contentLen int64) int64 {
	frames := (contentLen + FrameSize - 1) / FrameSize
	return headerLen + contentLen + 4*frames + 4 + trailerLen
}

// Seal starts an envelope with header h, encrypted with age to recipients,
// written to dst. Writes to the returned WriteCloser are the content; Close
// writes the trailer and padding and finishes the age file, and must be
// called (and its error checked) for the envelope to be complete. Memory use
// is constant in the content size.
//
// Seal returns an error wrapping ErrMalformedHeader for a header that cannot
// be encoded, and age's error (wrapped) for unusable recipients.
func Seal(dst io.Writer, h *Header, recipients ...age.Recipient) (io.WriteCloser, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	aw, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	w, err := newWriter(aw, h)
	if err != nil {
		return nil, err
	}
	w.closer = aw
	return w, nil
}

// writer writes the envelope plaintext to w.
type writer struct {
	w       io.Writer
	closer  io.Closer // the age writer, or nil
	hash    hash.Hash
	frame   []byte // 4-byte length prefix, then up to FrameSize content bytes
	content int64  // content bytes written
	total   int64  // plaintext bytes written to w
	err     error  // sticky
}

// newWriter writes the header of h (which must pass check) to w and returns
// a writer for the content. It does no encryption.
func newWriter(w io.Writer, h *Header) (*writer, error) {
	ew := &writer{w: w, hash: sha256.New(), frame: make([]byte, 4, 4+FrameSize)}
	hdr := h.append(make([]byte, 0, h.Len()))
	ew.hash.Write(hdr)
	if err := ew.write(hdr); err != nil {
		return nil, err
	}
	return ew, nil
}

func (w *writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(b)
	w.total += int64(n)
	if err != nil {
		w.err = fmt.Errorf("envelope: %w", err)
	}
	return w.err
}

// Write writes content. It buffers at most one frame.
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.frame) == 4 && len(p) >= FrameSize {
			// A whole frame: write it without copying it into the buffer.
			binary.BigEndian.PutUint32(w.frame[:4], FrameSize)
			w.hash.Write(p[:FrameSize])
			if err := w.write(w.frame[:4]); err != nil {
				return n, err
			}
			if err := w.write(p[:FrameSize]); err != nil {
				return n, err
			}
			w.content += FrameSize
			n += FrameSize
			p = p[FrameSize:]
			continue
		}
		k := min(len(p), cap(w.frame)-len(w.frame))
		w.frame = append(w.frame, p[:k]...)
		w.hash.Write(p[:k])
		w.content += int64(k)
		n += k
		p = p[k:]
		if len(w.frame) == cap(w.frame) {
			if err := w.flushFrame(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flushFrame writes the buffered frame, if it is not empty.
func (w *writer) flushFrame() error {
	if len(w.frame) == 4 {
		return nil
	}
	binary.BigEndian.PutUint32(w.frame[:4], uint32(len(w.frame)-4))
	err := w.write(w.frame)
	w.frame = w.frame[:4]
	return err
}

// Close writes the last frame, the end frame, the trailer and the padding,
// then closes the age writer.
func (w *writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.flushFrame(); err != nil {
		return err
	}
	tail := make([]byte, 4, 4+trailerLen)
	tail = binary.BigEndian.AppendUint64(tail, uint64(w.content))
	tail = w.hash.Sum(tail)
	if err := w.write(tail); err != nil {
		return err
	}
	pad := padme.Len(w.total) - w.total
	zeros := make([]byte, min(pad, 4096))
	for pad > 0 {
		k := min(pad, int64(len(zeros)))
		if err := w.write(zeros[:k]); err != nil {
			return err
		}
		pad -= k
	}
	if w.closer != nil {
		if err := w.closer.Close(); err != nil {
			w.err = fmt.Errorf("envelope: %w", err)
			return w.err
		}
	}
	w.err = ErrClosed
	return nil
}
