package scrub

import (
	"bytes"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func scrubBytes(t testing.TB, in []byte, mediaType, name string) ([]byte, Report, error) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Scrub(bytes.NewReader(in), &out, mediaType, name)
	return out.Bytes(), rep, err
}

func samePixels(t *testing.T, a, b image.Image) {
	t.Helper()
	if a.Bounds() != b.Bounds() {
		t.Fatalf("bounds %v, want %v", b.Bounds(), a.Bounds())
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				t.Fatalf("pixel (%d,%d) differs", x, y)
			}
		}
	}
}

func TestScrubJPEG(t *testing.T) {
	clean, hostile, want := jpegImages(t)
	for _, m := range markers[:14] {
		if !bytes.Contains(hostile, []byte(m)) {
			t.Fatalf("test image lacks marker %q", m)
		}
	}
	out, rep, err := scrubBytes(t, hostile, "image/jpeg", "photo.JPG")
	if err != nil {
		t.Fatal(err)
	}
	assertNoMarkers(t, out)
	if !bytes.Equal(out, want) {
		t.Errorf("output differs from the expected %d bytes (got %d)", len(want), len(out))
	}
	wantRemoved := []string{
		"JFIF thumbnail",
		"JFIF extension thumbnail (JFXX)",
		"EXIF (GPS position, camera serial number, camera owner name, camera make, camera model, date and time, thumbnail image)",
		"XMP",
		"Photoshop resources and IPTC (APP13)",
		"ICC colour profile (colours may shift slightly; custom profiles can identify a scanner or screen)",
		"multi-picture index (MPF)",
		"JPEG comment (COM)",
		"extra data in the Adobe segment (APP14)",
		"APP15 segment (vendor data)",
		"data after the end of the image (can hold extra images or files)",
	}
	if !slices.Equal(rep.Removed, wantRemoved) {
		t.Errorf("Removed = %q\nwant      %q", rep.Removed, wantRemoved)
	}
	if rep.Format != "JPEG" || !rep.Scrubbed || len(rep.Warnings) != 0 || len(rep.NotChecked) == 0 {
		t.Errorf("report = %+v", rep)
	}

	// The scrubbed image decodes to exactly the pixels of the original.
	orig, err := jpeg.Decode(bytes.NewReader(hostile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("scrubbed JPEG does not decode: %v", err)
	}
	samePixels(t, orig, got)
	ref, _ := jpeg.Decode(bytes.NewReader(clean))
	samePixels(t, ref, got)

	// A clean image passes through unchanged, and scrubbing is idempotent.
	for _, in := range [][]byte{clean, out} {
		again, rep2, err := scrubBytes(t, in, "", "")
		if err != nil || !bytes.Equal(again, in) || len(rep2.Removed) != 0 {
			t.Errorf("rescrub: err %v, changed %v, removed %q", err, !bytes.Equal(again, in), rep2.Removed)
		}
	}
}

func TestScrubPNG(t *testing.T) {
	clean, hostile, want := pngImages(t)
	out, rep, err := scrubBytes(t, hostile, "image/png", "scan.png")
	if err != nil {
		t.Fatal(err)
	}
	assertNoMarkers(t, out)
	if !bytes.Equal(out, want) {
		t.Errorf("output differs from the expected %d bytes (got %d)", len(want), len(out))
	}
	wantRemoved := []string{
		"PNG text (tEXt: author, software, comments…)",
		"PNG text (zTXt: author, software, comments…)",
		"PNG text (iTXt: author, software, comments…)",
		"EXIF (GPS position, camera serial number, camera owner name, camera make, camera model, date and time, thumbnail image) (PNG eXIf)",
		"modification time (PNG tIME)",
		"ICC colour profile (PNG iCCP; colours may shift slightly)",
		"pixel density (PNG pHYs)",
		"ancillary PNG chunk prVt",
		"data after the end of the image (can hold extra images or files)",
	}
	if !slices.Equal(rep.Removed, wantRemoved) {
		t.Errorf("Removed = %q\nwant      %q", rep.Removed, wantRemoved)
	}
	if rep.Format != "PNG" || !rep.Scrubbed || len(rep.Warnings) != 0 {
		t.Errorf("report = %+v", rep)
	}
	orig, err := png.Decode(bytes.NewReader(clean))
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("scrubbed PNG does not decode: %v", err)
	}
	samePixels(t, orig, got)
	samePixels(t, testPicture(), got)
	for _, in := range [][]byte{clean, out} {
		again, rep2, err := scrubBytes(t, in, "", "")
		if err != nil || !bytes.Equal(again, in) || len(rep2.Removed) != 0 {
			t.Errorf("rescrub: err %v, changed %v, removed %q", err, !bytes.Equal(again, in), rep2.Removed)
		}
	}
}

func TestScrubGIF(t *testing.T) {
	clean, hostile, want := gifImages(t)
	out, rep, err := scrubBytes(t, hostile, "image/gif", "a.gif")
	if err != nil {
		t.Fatal(err)
	}
	assertNoMarkers(t, out)
	if !bytes.Equal(out, want) {
		t.Errorf("output differs from the expected %d bytes (got %d)", len(want), len(out))
	}
	wantRemoved := []string{
		"GIF comment",
		"XMP (GIF application extension)",
		"GIF application extension (vendor data)",
		"data after the end of the image (can hold extra images or files)",
	}
	if !slices.Equal(rep.Removed, wantRemoved) {
		t.Errorf("Removed = %q\nwant      %q", rep.Removed, wantRemoved)
	}
	g1, err := gif.DecodeAll(bytes.NewReader(clean))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := gif.DecodeAll(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("scrubbed GIF does not decode: %v", err)
	}
	if len(g2.Image) != 2 || g2.LoopCount != g1.LoopCount || !slices.Equal(g2.Delay, g1.Delay) {
		t.Errorf("animation changed: %d frames, loop %d, delays %v", len(g2.Image), g2.LoopCount, g2.Delay)
	}
	for i := range g1.Image {
		samePixels(t, g1.Image[i], g2.Image[i])
	}
}

func TestScrubUnsupportedCopiesUnchanged(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		format string
		note   string
	}{
		{"pdf", "%PDF-1.7\n1 0 obj << /Author (AUTHOR-MARKER) >>", "PDF", "PDF: metadata"},
		{"webp", "RIFF\x10\x00\x00\x00WEBPVP8X", "WebP", "WebP"},
		{"mp4", "\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "MP4", "video not supported"},
		{"heic", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIF", "HEIF"},
		{"zip", "PK\x03\x04docx", "ZIP", "ZIP container"},
		{"tiff", "II*\x00\x08\x00\x00\x00", "TIFF", "TIFF"},
		{"unknown", "just some text\n", "unknown", "unknown format"},
		{"short", "\xff", "unknown", "unknown format"},
		{"empty", "", "empty", "empty file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep, err := scrubBytes(t, []byte(tt.in), "image/jpeg", "x.jpg")
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.in {
				t.Errorf("output changed")
			}
			if rep.Format != tt.format || rep.Scrubbed || len(rep.Removed) != 0 {
				t.Errorf("report = %+v", rep)
			}
			if len(rep.NotChecked) != 1 || !strings.Contains(rep.NotChecked[0], tt.note) {
				t.Errorf("NotChecked = %q, want it to mention %q", rep.NotChecked, tt.note)
			}
			if !strings.Contains(rep.String(), "(not scrubbed)") {
				t.Errorf("String() = %q", rep.String())
			}
		})
	}
}

func TestScrubClaims(t *testing.T) {
	clean, _, _ := jpegImages(t)
	tests := []struct {
		mediaType, name string
		warnings        int
	}{
		{"image/jpeg", "a.jpg", 0},
		{"IMAGE/JPEG; q=1", "A.JPEG", 0},
		{"", "", 0},
		{"", "noext", 0},
		{"image/png", "a.jpg", 1},
		{"image/jpeg", "a.png", 1},
		{"application/pdf", "invoice.pdf", 2},
	}
	for _, tt := range tests {
		_, rep, err := scrubBytes(t, clean, tt.mediaType, tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Warnings) != tt.warnings {
			t.Errorf("(%q, %q): warnings %q, want %d", tt.mediaType, tt.name, rep.Warnings, tt.warnings)
		}
		for _, w := range rep.Warnings {
			if strings.Contains(w, tt.name) && tt.name != "" {
				t.Errorf("warning %q echoes the file name", w)
			}
		}
	}
}

func TestScrubTruncated(t *testing.T) {
	jpg, _, _ := jpegImages(t)
	pngb, _, _ := pngImages(t)
	gifb, _, _ := gifImages(t)
	for _, tt := range []struct {
		name string
		data []byte
		min  int // shortest prefix that is still recognised
	}{
		{"jpeg", jpg, 3},
		{"png", pngb, 8},
		{"gif", gifb, 6},
	} {
		for n := tt.min; n < len(tt.data); n++ {
			_, _, err := scrubBytes(t, tt.data[:n], "", "")
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s cut to %d of %d bytes: err = %v, want ErrTruncated", tt.name, n, len(tt.data), err)
			}
		}
	}
}

func TestScrubMalformedJPEG(t *testing.T) {
	clean, _, _ := jpegImages(t)
	soi, rest := clean[:2], clean[2:]
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"junk between segments", cat(soi, jpegSegment(0xfe, []byte("c")), []byte("junk"), rest), ErrMalformed},
		{"segment length 0", cat(soi, []byte{0xff, 0xe1, 0, 0}, rest), ErrMalformed},
		{"segment length 1", cat(soi, []byte{0xff, 0xfe, 0, 1}, rest), ErrMalformed},
		{"length past end", cat(soi, []byte{0xff, 0xe1, 0xff, 0xff, 1, 2, 3}), ErrTruncated},
		{"eoi before scan", cat(soi, []byte{0xff, 0xd9}), ErrMalformed},
		{"second soi", cat(soi, []byte{0xff, 0xd8}, rest), ErrMalformed},
		{"stuffed zero outside scan", cat(soi, []byte{0xff, 0x00}, rest), ErrMalformed},
		{"no eoi", clean[:len(clean)-2], ErrTruncated},
		{"jpeg-ls marker", cat(soi, jpegSegment(0xf7, []byte{8, 0, 1, 0, 1, 1, 1, 0x11, 0}), rest), ErrUnsupported},
		{"jpg marker", cat(soi, jpegSegment(0xc8, []byte{0}), rest), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := scrubBytes(t, tt.in, "", "")
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestScrubMalformedPNG(t *testing.T) {
	clean, _, _ := pngImages(t)
	const ihdrEnd = 8 + 12 + 13
	sig, ihdr, rest := clean[:8], clean[8:ihdrEnd], clean[ihdrEnd:]
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	badIDAT := bytes.Clone(clean)
	badIDAT[len(badIDAT)-12-5]++ // last byte of the last IDAT's data
	badText := cat(sig, ihdr, pngChunk("tEXt", []byte("a\x00b")), rest)
	badText[ihdrEnd+8+3]++ // a dropped chunk's CRC is not checked
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"idat crc", badIDAT, ErrChecksum},
		{"ihdr not first", cat(sig, pngChunk("gAMA", []byte{0, 0, 0, 1}), ihdr, rest), ErrMalformed},
		{"unknown critical chunk", cat(sig, ihdr, pngChunk("ZZZZ", nil), rest), ErrUnsupported},
		{"bad chunk type", cat(sig, ihdr, pngChunk("a b1", nil), rest), ErrMalformed},
		{"huge length", cat(sig, ihdr, []byte{0x80, 0, 0, 0}, []byte("tEXt")), ErrMalformed},
		{"gAMA wrong size", cat(sig, ihdr, pngChunk("gAMA", []byte{1, 2, 3}), rest), ErrMalformed},
		{"PLTE too long", cat(sig, ihdr, pngChunk("PLTE", make([]byte, 771)), rest), ErrMalformed},
		{"no IEND", clean[:len(clean)-12], ErrTruncated},
		{"dropped chunk bad crc is fine", badText, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := scrubBytes(t, tt.in, "", "")
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestScrubMalformedGIF(t *testing.T) {
	clean, _, _ := gifImages(t)
	bad := bytes.Clone(clean)
	bad[len(bad)-1] = 0x99 // trailer replaced by an unknown block
	if _, _, err := scrubBytes(t, bad, "", ""); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}

type failWriter struct {
	n   int
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

func TestScrubIOErrors(t *testing.T) {
	_, hostile, _ := jpegImages(t)
	pngb, _, _ := pngImages(t)
	boom := errors.New("disk full")
	for _, in := range [][]byte{hostile, pngb, []byte("%PDF-1.4 plus some text")} {
		// A failing writer.
		_, err := Scrub(bytes.NewReader(in), &failWriter{err: boom}, "", "")
		if !errors.Is(err, boom) {
			t.Errorf("write error: got %v, want %v", err, boom)
		}
		// A reader that fails half way.
		r := io.MultiReader(bytes.NewReader(in[:len(in)/2]), iotest.ErrReader(boom))
		_, err = Scrub(r, io.Discard, "", "")
		if !errors.Is(err, boom) {
			t.Errorf("read error: got %v, want %v", err, boom)
		}
		// One byte at a time still works.
		var out bytes.Buffer
		if _, err := Scrub(iotest.OneByteReader(bytes.NewReader(in)), &out, "", ""); err != nil {
			t.Errorf("one-byte reader: %v", err)
		}
	}
}

func TestScrubLargeJPEGStreams(t *testing.T) {
	// A scan of several megabytes with restart markers and stuffed bytes
	// streams through; only the framing is checked, not decodability.
	var in bytes.Buffer
	in.Write([]byte{0xff, 0xd8})
	in.Write(jpegSegment(0xda, []byte{1, 1, 0, 0, 0x3f, 0}))
	chunk := bytes.Repeat([]byte{0x12, 0xff, 0x00, 0x34}, 1<<16)
	for i := range 16 {
		in.Write(chunk)
		in.Write([]byte{0xff, byte(0xd0 + i%8)})
	}
	in.Write([]byte{0xff, 0xd9})
	out, _, err := scrubBytes(t, in.Bytes(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in.Bytes()) {
		t.Errorf("scan data changed")
	}
}

func TestExifKindsBounded(t *testing.T) {
	// An IFD that points to itself, and offsets past the end.
	loop := buildTIFF([][]tiffEntry{{{tag: 0x8769, sub: 0}, {tag: 0x010f, typ: 2, val: ascii("m")}}}, 0)
	loop[8+2+8] = 8 // Exif IFD pointer back to IFD0
	if got := exifDescription(loop); got != "EXIF (camera make)" {
		t.Errorf("self loop: %q", got)
	}
	if got := exifDescription([]byte("II*\x00\xff\xff\xff\xff")); got != "EXIF" {
		t.Errorf("offset past end: %q", got)
	}
	if got := exifDescription([]byte("XX")); got != "EXIF" {
		t.Errorf("garbage: %q", got)
	}
}

func TestScrubAPNG(t *testing.T) {
	clean, _, _ := pngImages(t)
	const ihdrEnd = 8 + 12 + 13
	var in bytes.Buffer
	in.Write(clean[:ihdrEnd])
	in.Write(pngChunk("acTL", []byte{0, 0, 0, 2, 0, 0, 0, 0}))
	in.Write(pngChunk("fcTL", make([]byte, 26)))
	in.Write(clean[ihdrEnd : len(clean)-12])
	in.Write(pngChunk("fcTL", make([]byte, 26)))
	in.Write(pngChunk("fdAT", []byte("\x00\x00\x00\x02PRIVATE-MARKER")))
	in.Write(clean[len(clean)-12:])
	out, rep, err := scrubBytes(t, in.Bytes(), "image/apng", "a.png")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, clean) {
		t.Errorf("output is not the still image")
	}
	want := []string{"animation frames (APNG): only the still image is kept"}
	if !slices.Equal(rep.Removed, want) || len(rep.Warnings) != 0 {
		t.Errorf("report = %+v", rep)
	}
}

// eofCheckReader stands for an envelope reader: it returns an integrity
// error instead of io.EOF at the end.
type eofCheckReader struct {
	r   io.Reader
	err error
}

func (e *eofCheckReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestScrubReadsToEOF(t *testing.T) {
	jpg, _, _ := jpegImages(t)
	pngb, _, _ := pngImages(t)
	gifb, _, _ := gifImages(t)
	bad := errors.New("trailer hash mismatch")
	for _, in := range [][]byte{jpg, pngb, gifb, []byte("%PDF-1.4")} {
		for _, trailer := range []string{"", "extra"} {
			r := &eofCheckReader{r: bytes.NewReader(append(bytes.Clone(in), trailer...)), err: bad}
			if _, err := Scrub(r, io.Discard, "", ""); !errors.Is(err, bad) {
				t.Errorf("err = %v, want the reader's error at EOF", err)
			}
		}
	}
}
