package scrub

import (
	"bufio"
	"fmt"
	"io"
)

// GIF block introducers and extension labels (GIF89a).
const (
	gifExtension = 0x21
	gifImage     = 0x2c
	gifTrailer   = 0x3b

	gifPlainText   = 0x01
	gifGraphicCtl  = 0xf9
	gifComment     = 0xfe
	gifApplication = 0xff
)

// maxGIFBlocks bounds the number of blocks in a GIF, so that a file made of
// empty blocks cannot keep the scrubber busy for long.
const maxGIFBlocks = 1 << 20

func scrubGIF(r *bufio.Reader, w *bufio.Writer, rep *Report) error {
	if err := runGIF(r, w, rep); err != nil {
		return fmt.Errorf("scrub: gif: %w", err)
	}
	rep.NotChecked = append(rep.NotChecked,
		"GIF: the compressed pixel data was kept as it is; data hidden in the pixels was not checked",
		"the visible content of the image (faces, documents, reflections, landmarks) was not checked")
	return nil
}

func runGIF(r *bufio.Reader, w *bufio.Writer, rep *Report) error {
	// Header (6) and logical screen descriptor (7).
	var h [13]byte
	if err := readFull(r, h[:]); err != nil {
		return err
	}
	w.Write(h[:])
	if h[10]&0x80 != 0 { // global colour table
		if err := copyN(w, r, 3<<(h[10]&7+1)); err != nil {
			return err
		}
	}
	for range maxGIFBlocks {
		c, err := r.ReadByte()
		if err != nil {
			return truncated(err)
		}
		switch c {
		case gifTrailer:
			w.WriteByte(c)
			return drainTrailer(r, rep)
		case gifImage:
			w.WriteByte(c)
			var d [9]byte
			if err := readFull(r, d[:]); err != nil {
				return err
			}
			w.Write(d[:])
			if d[8]&0x80 != 0 { // local colour table
				if err := copyN(w, r, 3<<(d[8]&7+1)); err != nil {
					return err
				}
			}
			// LZW minimum code size, then the data sub-blocks.
			if err := copyN(w, r, 1); err != nil {
				return err
			}
			if err := subBlocks(r, w); err != nil {
				return err
			}
		case gifExtension:
			if err := gifExt(r, w, rep); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unknown block 0x%02x", ErrMalformed, c)
		}
	}
	return fmt.Errorf("%w: too many blocks", ErrMalformed)
}

func gifExt(r *bufio.Reader, w *bufio.Writer, rep *Report) error {
	label, err := r.ReadByte()
	if err != nil {
		return truncated(err)
	}
	keep := false
	switch label {
	case gifGraphicCtl:
		keep = true // delays and transparency
	case gifComment:
		rep.removed("GIF comment")
	case gifPlainText:
		rep.removed("GIF plain text extension")
	case gifApplication:
		// The first sub-block names the application; only the looping
		// extensions are needed to play an animation.
		id, err := r.Peek(12)
		if err != nil {
			return truncated(err)
		}
		switch string(id) {
		case "\x0bNETSCAPE2.0", "\x0bANIMEXTS1.0":
			keep = true
		case "\x0bXMP DataXMP":
			rep.removed("XMP (GIF application extension)")
		case "\x0bICCRGBG1012":
			rep.removed("ICC colour profile (GIF application extension)")
		default:
			rep.removed("GIF application extension (vendor data)")
		}
	default:
		rep.removed(fmt.Sprintf("unknown GIF extension 0x%02x", label))
	}
	if !keep {
		return subBlocks(r, io.Discard)
	}
	w.Write([]byte{gifExtension, label})
	return subBlocks(r, w)
}

// subBlocks copies a sequence of data sub-blocks and its terminator.
func subBlocks(r *bufio.Reader, w io.Writer) error {
	for {
		n, err := r.ReadByte()
		if err != nil {
			return truncated(err)
		}
		if _, err := w.Write([]byte{n}); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := copyN(w, r, int64(n)); err != nil {
			return err
		}
	}
}
