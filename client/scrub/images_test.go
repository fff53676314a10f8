package scrub

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Marker strings planted in metadata; none may survive scrubbing.
var markers = []string{
	"THUMB-MARK", "MAKE-MARKER", "MODEL-MARKER", "SERIAL-MARKER", "OWNER-MARKER",
	"DATE-MARKER", "XMP-MARKER", "IPTC-MARKER", "ICC-MARKER", "MPF-MARKER",
	"COMMENT-MARKER", "ADOBE-MARKER", "APP15-MARKER", "TRAILER-MARKER",
	"AUTHOR-MARKER", "SOFTWARE-MARKER", "ZTXT-MARKER", "ITXT-MARKER",
	"TIME-MARK", "ICCP-MARKER", "PRIVATE-MARKER", "GIFXMP-MARKER",
	"GIF-COMMENT-MARKER", "GIFAPP-MARKER",
}

func assertNoMarkers(t *testing.T, out []byte) {
	t.Helper()
	for _, m := range markers {
		if bytes.Contains(out, []byte(m)) {
			t.Errorf("output still contains %q", m)
		}
	}
}

// testPicture is a small image with varied colours and some transparency.
func testPicture() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 24))
	for y := range 24 {
		for x := range 40 {
			img.Set(x, y, color.NRGBA{uint8(x * 6), uint8(y * 10), uint8(x*y) ^ 0x55, uint8(255 - x)})
		}
	}
	return img
}

// tiffEntry is one EXIF tag. A value of sub > 0 makes the entry a pointer
// to IFD number sub.
type tiffEntry struct {
	tag uint16
	typ uint16 // 2 ASCII, 5 RATIONAL, 7 UNDEFINED
	val []byte
	sub int
}

// buildTIFF lays out IFDs one after another, then their out-of-line values.
// The IFD0 "next" pointer goes to ifds[next0] when next0 > 0 (a thumbnail
// IFD1).
func buildTIFF(ifds [][]tiffEntry, next0 int) []byte {
	le := binary.LittleEndian
	offs := make([]int, len(ifds))
	off := 8
	for i, d := range ifds {
		offs[i] = off
		off += 2 + 12*len(d) + 4
	}
	out := make([]byte, off)
	copy(out, "II*\x00")
	le.PutUint32(out[4:], 8)
	for i, d := range ifds {
		p := offs[i]
		le.PutUint16(out[p:], uint16(len(d)))
		p += 2
		for _, e := range d {
			le.PutUint16(out[p:], e.tag)
			switch {
			case e.sub > 0:
				le.PutUint16(out[p+2:], 4)
				le.PutUint32(out[p+4:], 1)
				le.PutUint32(out[p+8:], uint32(offs[e.sub]))
			default:
				count := len(e.val)
				if e.typ == 5 {
					count /= 8
				}
				le.PutUint16(out[p+2:], e.typ)
				le.PutUint32(out[p+4:], uint32(count))
				if len(e.val) <= 4 {
					copy(out[p+8:], e.val)
				} else {
					le.PutUint32(out[p+8:], uint32(len(out)))
					out = append(out, e.val...)
				}
			}
			p += 12
		}
		if i == 0 && next0 > 0 {
			le.PutUint32(out[p:], uint32(offs[next0]))
		}
	}
	return out
}

func ascii(s string) []byte { return append([]byte(s), 0) }

// exifTIFF is a camera-like EXIF block with GPS, serial number, owner and a
// thumbnail IFD.
func exifTIFF() []byte {
	rational := make([]byte, 24)
	binary.LittleEndian.PutUint32(rational[0:], 43)
	binary.LittleEndian.PutUint32(rational[4:], 1)
	return buildTIFF([][]tiffEntry{
		{ // IFD0
			{tag: 0x010f, typ: 2, val: ascii("MAKE-MARKER")},
			{tag: 0x0110, typ: 2, val: ascii("MODEL-MARKER X100")},
			{tag: 0x8769, sub: 1},
			{tag: 0x8825, sub: 2},
		},
		{ // Exif IFD
			{tag: 0x9003, typ: 2, val: ascii("DATE-MARKER 2024:01:02")},
			{tag: 0xa430, typ: 2, val: ascii("OWNER-MARKER Aigerim")},
			{tag: 0xa431, typ: 2, val: ascii("SERIAL-MARKER-0042")},
		},
		{ // GPS IFD
			{tag: 0x0001, typ: 2, val: ascii("N")},
			{tag: 0x0002, typ: 5, val: rational},
		},
		{ // IFD1 (thumbnail)
			{tag: 0x0201, typ: 7, val: []byte("THUMB-MARK-in-exif")},
		},
	}, 3)
}

func jpegSegment(m byte, payload []byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xff, m, byte(n >> 8), byte(n)}, payload...)
}

// jpegImages returns a clean JPEG from image/jpeg, the same image with
// every kind of metadata planted (and data after EOI), and the exact bytes
// Scrub must produce from the latter.
func jpegImages(t testing.TB) (clean, hostile, want []byte) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testPicture(), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	clean = buf.Bytes()

	jfifFixed := []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48")
	jfifThumb := append(append(append([]byte{}, jfifFixed...), 4, 1), "THUMB-MARK-3"...)
	adobeFixed := []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")
	iptc := []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x17\x1c\x02\x50\x00\x12IPTC-MARKER-byline")

	var h bytes.Buffer
	h.Write(clean[:2])
	h.Write(jpegSegment(0xe0, jfifThumb))
	h.Write(jpegSegment(0xe0, []byte("JFXX\x00\x13THUMB-MARK-jfxx")))
	h.Write(jpegSegment(0xe1, append([]byte("Exif\x00\x00"), exifTIFF()...)))
	h.Write(jpegSegment(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:creator>XMP-MARKER</dc:creator></x:xmpmeta>")))
	h.Write(jpegSegment(0xed, iptc))
	h.Write(jpegSegment(0xe2, []byte("ICC_PROFILE\x00\x01\x01ICC-MARKER-desc")))
	h.Write(jpegSegment(0xe2, []byte("MPF\x00MPF-MARKER")))
	h.Write([]byte{0xff, 0xff, 0xff}) // fill bytes before a marker
	h.Write(jpegSegment(0xfe, []byte("COMMENT-MARKER")))
	h.Write(jpegSegment(0xee, append(append([]byte{}, adobeFixed...), "ADOBE-MARKER"...)))
	h.Write(jpegSegment(0xef, []byte("APP15-MARKER")))
	h.Write(clean[2:])
	h.WriteString("\xff\xd8TRAILER-MARKER second image")
	hostile = h.Bytes()

	var w bytes.Buffer
	w.Write(clean[:2])
	w.Write(jpegSegment(0xe0, append(append([]byte{}, jfifFixed...), 0, 0)))
	w.Write(jpegSegment(0xee, adobeFixed))
	w.Write(clean[2:])
	want = w.Bytes()
	return clean, hostile, want
}

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

func zlibBytes(s string) []byte {
	var b bytes.Buffer
	z := zlib.NewWriter(&b)
	z.Write([]byte(s))
	z.Close()
	return b.Bytes()
}

// pngImages returns a clean PNG from image/png, the same image with
// metadata chunks planted, and the exact bytes Scrub must produce.
func pngImages(t testing.TB) (clean, hostile, want []byte) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, testPicture()); err != nil {
		t.Fatal(err)
	}
	clean = buf.Bytes()
	const ihdrEnd = 8 + 12 + 13
	gama := pngChunk("gAMA", []byte{0, 0, 0xb1, 0x8f})
	srgb := pngChunk("sRGB", []byte{0})

	var h bytes.Buffer
	h.Write(clean[:ihdrEnd])
	h.Write(gama)
	h.Write(pngChunk("tEXt", []byte("Author\x00AUTHOR-MARKER")))
	h.Write(pngChunk("tEXt", []byte("Software\x00SOFTWARE-MARKER 1.0")))
	h.Write(pngChunk("zTXt", append([]byte("ZTXT-MARKER\x00\x00"), zlibBytes("compressed comment")...)))
	h.Write(pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>ITXT-MARKER</x:xmpmeta>")))
	h.Write(pngChunk("eXIf", exifTIFF()))
	h.Write(pngChunk("tIME", []byte("TIME-MARK")[:7]))
	h.Write(srgb)
	h.Write(pngChunk("iCCP", append([]byte("ICCP-MARKER\x00\x00"), zlibBytes("profile")...)))
	h.Write(pngChunk("pHYs", []byte{0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1}))
	h.Write(pngChunk("prVt", []byte("PRIVATE-MARKER")))
	h.Write(clean[ihdrEnd:])
	h.WriteString("TRAILER-MARKER after IEND")
	hostile = h.Bytes()

	var w bytes.Buffer
	w.Write(clean[:ihdrEnd])
	w.Write(gama)
	w.Write(srgb)
	w.Write(clean[ihdrEnd:])
	want = w.Bytes()
	return clean, hostile, want
}

// gifImages returns a clean two-frame looping GIF from image/gif, the same
// with a comment, XMP and vendor application extension and trailing data,
// and the exact bytes Scrub must produce.
func gifImages(t testing.TB) (clean, hostile, want []byte) {
	frames := make([]*image.Paletted, 2)
	for i := range frames {
		p := image.NewPaletted(image.Rect(0, 0, 8, 6), palette.Plan9)
		for j := range p.Pix {
			p.Pix[j] = uint8(j*7 + i*31)
		}
		frames[i] = p
	}
	var buf bytes.Buffer
	err := gif.EncodeAll(&buf, &gif.GIF{Image: frames, Delay: []int{10, 20}, LoopCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	clean = buf.Bytes()
	at := 13
	if clean[10]&0x80 != 0 {
		at += 3 << (clean[10]&7 + 1)
	}
	var h bytes.Buffer
	h.Write(clean[:at])
	h.Write([]byte{0x21, 0xfe, 18})
	h.WriteString("GIF-COMMENT-MARKER")
	h.WriteByte(0)
	h.Write([]byte{0x21, 0xff, 11})
	h.WriteString("XMP DataXMP")
	h.WriteString("\x0dGIFXMP-MARKER\x00")
	h.Write([]byte{0x21, 0xff, 11})
	h.WriteString("VENDOR01234")
	h.WriteString("\x0dGIFAPP-MARKER\x00")
	h.Write(clean[at:])
	h.WriteString("TRAILER-MARKER")
	return clean, h.Bytes(), clean
}
