package scrub

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// keptPNG reports whether a chunk type is kept and the exact (exact) or
// largest data length it may have (size -1: any length, streamed).
// Everything that is needed to show the right pixels in the right colours
// is kept; everything else is dropped.
func keptPNG(typ string) (size int64, exact, keep bool) {
	switch typ {
	case "IHDR":
		return 13, true, true
	case "PLTE":
		return 768, false, true
	case "IDAT":
		return -1, false, true
	case "IEND":
		return 0, true, true
	case "tRNS":
		return 256, false, true
	case "gAMA", "cICP":
		return 4, true, true
	case "cHRM":
		return 32, true, true
	case "sRGB":
		return 1, true, true
	}
	return 0, false, false
}

// maxPNGChunk is the largest chunk length the PNG specification allows.
const maxPNGChunk = 1<<31 - 1

// maxEXIFPeek bounds how much of an eXIf chunk is read to describe it.
const maxEXIFPeek = 64 << 10

func scrubPNG(r *bufio.Reader, w *bufio.Writer, rep *Report) error {
	if err := runPNG(r, w, rep); err != nil {
		return fmt.Errorf("scrub: png: %w", err)
	}
	rep.NotChecked = append(rep.NotChecked,
		"PNG: the compressed pixel data was kept as it is; data hidden in the pixels or after the compressed stream was not checked",
		"the visible content of the image (faces, documents, reflections, landmarks) was not checked")
	return nil
}

func runPNG(r *bufio.Reader, w *bufio.Writer, rep *Report) error {
	var sig [8]byte
	if err := readFull(r, sig[:]); err != nil {
		return err
	}
	w.Write(sig[:])
	for first := true; ; first = false {
		var h [8]byte
		if err := readFull(r, h[:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		typ := string(h[4:8])
		if n > maxPNGChunk {
			return fmt.Errorf("%w: chunk length %d", ErrMalformed, n)
		}
		if !validChunkType(h[4:8]) {
			return fmt.Errorf("%w: invalid chunk type", ErrMalformed)
		}
		if first != (typ == "IHDR") {
			return fmt.Errorf("%w: IHDR is not the first chunk", ErrMalformed)
		}
		size, exact, keep := keptPNG(typ)
		switch {
		case keep:
			if (exact && n != size) || (!exact && size >= 0 && n > size) {
				return fmt.Errorf("%w: %s chunk of length %d", ErrMalformed, typ, n)
			}
			if err := copyChunk(r, w, h, n); err != nil {
				return fmt.Errorf("%s chunk: %w", typ, err)
			}
		case isCritical(h[4]):
			return fmt.Errorf("%w: unknown critical chunk %s", ErrUnsupported, typ)
		default:
			if err := dropChunk(r, typ, n, rep); err != nil {
				return fmt.Errorf("%s chunk: %w", typ, err)
			}
		}
		if typ == "IEND" {
			return drainTrailer(r, rep)
		}
	}
}

// copyChunk writes a kept chunk through, checking its CRC.
func copyChunk(r *bufio.Reader, w *bufio.Writer, h [8]byte, n int64) error {
	crc := crc32.NewIEEE()
	crc.Write(h[4:8])
	w.Write(h[:])
	if err := copyN(io.MultiWriter(w, crc), r, n); err != nil {
		return err
	}
	var sum [4]byte
	if err := readFull(r, sum[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
		return ErrChecksum
	}
	w.Write(sum[:])
	return nil
}

// dropChunk skips an ancillary chunk and notes it in the report.
func dropChunk(r *bufio.Reader, typ string, n int64, rep *Report) error {
	if typ == "eXIf" && n <= maxEXIFPeek {
		p := make([]byte, n)
		if err := readFull(r, p); err != nil {
			return err
		}
		rep.removed(exifDescription(p) + " (PNG eXIf)")
	} else {
		if err := copyN(io.Discard, r, n); err != nil {
			return err
		}
		rep.removed(describePNG(typ))
	}
	var crc [4]byte
	return readFull(r, crc[:])
}

func describePNG(typ string) string {
	switch typ {
	case "tEXt", "zTXt", "iTXt":
		return "PNG text (" + typ + ": author, software, comments…)"
	case "eXIf":
		return "EXIF (PNG eXIf)"
	case "tIME":
		return "modification time (PNG tIME)"
	case "iCCP":
		return "ICC colour profile (PNG iCCP; colours may shift slightly)"
	case "pHYs":
		return "pixel density (PNG pHYs)"
	case "bKGD":
		return "background colour (PNG bKGD)"
	case "sBIT", "hIST", "sPLT":
		return "colour statistics (PNG " + typ + ")"
	case "acTL", "fcTL", "fdAT":
		return "animation frames (APNG): only the still image is kept"
	}
	return "ancillary PNG chunk " + typ
}

// validChunkType reports whether b is four ASCII letters, which also makes
// it safe to print.
func validChunkType(b []byte) bool {
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func isCritical(c byte) bool { return c&0x20 == 0 }
