package scrub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Scrub copies the file read from r to w with its metadata removed, and
// reports what it did. The format is detected from the content, never from
// mediaType or name; those two are only compared with the content, and a
// mismatch is reported in [Report.Warnings].
//
// Files in a format that Scrub does not support are copied unchanged and
// reported with Scrubbed false and the reason in [Report.NotChecked].
//
// Scrub always reads r to its end, also past the image's end marker (that
// data is dropped), so that a reader that checks integrity when it reaches
// EOF gets to do so and its error is returned.
//
// Scrub reads and writes in a streaming fashion: its memory use is bounded
// (below 256 KiB) whatever the input. On error, w has received an
// incomplete prefix of the output, which the caller must discard; the error
// wraps [ErrTruncated], [ErrMalformed], [ErrChecksum], [ErrUnsupported], or
// the error of r or w.
func Scrub(r io.Reader, w io.Writer, mediaType, name string) (Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 32<<10)
	var rep Report

	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return rep, fmt.Errorf("scrub: reading input: %w", err)
	}
	f := detect(head)
	rep.Format = f.name
	switch f.name {
	case "JPEG":
		err = scrubJPEG(br, bw, &rep)
	case "PNG":
		err = scrubPNG(br, bw, &rep)
	case "GIF":
		err = scrubGIF(br, bw, &rep)
	default:
		rep.NotChecked = append(rep.NotChecked, f.note)
		if _, err = io.Copy(bw, br); err != nil {
			err = fmt.Errorf("scrub: copying: %w", err)
		}
	}
	if err != nil {
		return rep, err
	}
	if err := bw.Flush(); err != nil {
		return rep, fmt.Errorf("scrub: writing output: %w", err)
	}
	rep.Scrubbed = f.supported
	checkClaims(&rep, f, mediaType, name)
	return rep, nil
}

const sniffLen = 16

type format struct {
	name      string
	supported bool
	note      string   // for unsupported formats: what was not checked
	types     []string // media types that match the content
	exts      []string // file name extensions that match the content
}

// detect recognises a format from the first bytes of a file.
func detect(h []byte) format {
	has := func(off int, magic string) bool {
		return len(h) >= off+len(magic) && string(h[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return format{
			name: "JPEG", supported: true,
			types: []string{"image/jpeg", "image/jpg", "image/pjpeg"},
			exts:  []string{".jpg", ".jpeg", ".jpe", ".jfif"},
		}
	case has(0, "\x89PNG\r\n\x1a\n"):
		return format{
			name: "PNG", supported: true,
			types: []string{"image/png", "image/apng", "image/x-png"},
			exts:  []string{".png", ".apng"},
		}
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return format{
			name: "GIF", supported: true,
			types: []string{"image/gif"},
			exts:  []string{".gif"},
		}
	case len(h) == 0:
		return format{name: "empty", note: "empty file"}
	case has(0, "%PDF-"):
		return unsupported("PDF", "PDF: metadata (author, software, dates, XMP) not removed — format not supported")
	case has(0, "RIFF") && has(8, "WEBP"):
		return unsupported("WebP", "WebP: EXIF and XMP not removed — format not supported")
	case has(0, "RIFF"):
		return unsupported("RIFF", "RIFF audio or video: metadata not removed — format not supported")
	case has(4, "ftyp"):
		if has(8, "heic") || has(8, "heix") || has(8, "mif1") || has(8, "msf1") || has(8, "avif") {
			return unsupported("HEIF", "HEIF/AVIF image: EXIF and XMP (GPS, camera) not removed — format not supported")
		}
		return unsupported("MP4", "MP4/QuickTime video: metadata (GPS, device, dates) not removed — video not supported")
	case has(0, "\x1a\x45\xdf\xa3"):
		return unsupported("Matroska", "Matroska/WebM video: metadata not removed — video not supported")
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return unsupported("TIFF", "TIFF or camera raw image: EXIF (GPS, camera serial) not removed — format not supported")
	case has(0, "PK\x03\x04"):
		return unsupported("ZIP", "ZIP container (Office or OpenDocument file, archive): author and revision data not removed — format not supported")
	case has(0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return unsupported("OLE", "legacy Office document: author and revision data not removed — format not supported")
	case has(0, "{\\rtf"):
		return unsupported("RTF", "RTF document: author data not removed — format not supported")
	case has(0, "ID3"), has(0, "OggS"), has(0, "fLaC"):
		return unsupported("audio", "audio file: tags not removed — format not supported")
	}
	return format{name: "unknown", note: "unknown format: copied unchanged, not scrubbed"}
}

func unsupported(name, note string) format {
	return format{name: name, note: note}
}

// checkClaims warns when the declared media type or the name's extension
// disagree with the content of a supported format.
func checkClaims(rep *Report, f format, mediaType, name string) {
	if !f.supported {
		return
	}
	mt, _, _ := strings.Cut(mediaType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt != "" && !contains(f.types, mt) {
		rep.Warnings = append(rep.Warnings, "the declared media type does not match the content ("+f.name+")")
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 && !strings.ContainsAny(name[i:], `/\`) {
		if !contains(f.exts, strings.ToLower(name[i:])) {
			rep.Warnings = append(rep.Warnings, "the file name extension does not match the content ("+f.name+"); the file may open in the wrong program")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readFull reads exactly len(p) bytes, turning an early end into
// ErrTruncated.
func readFull(r io.Reader, p []byte) error {
	_, err := io.ReadFull(r, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

// copyN copies exactly n bytes from r to w, turning an early end into
// ErrTruncated.
func copyN(w io.Writer, r io.Reader, n int64) error {
	m, err := io.CopyN(w, r, n)
	if m < n && (err == nil || errors.Is(err, io.EOF)) {
		return ErrTruncated
	}
	return err
}

// drainTrailer reads r to its end after a format's end marker, so that a
// reader that verifies its input at EOF (such as an envelope) does so, and
// notes in rep whether anything was there.
func drainTrailer(r *bufio.Reader, rep *Report) error {
	n, err := io.Copy(io.Discard, r)
	if n > 0 {
		rep.removed("data after the end of the image (can hold extra images or files)")
	}
	if err != nil {
		return fmt.Errorf("reading after the end of the image: %w", err)
	}
	return nil
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
