package scrub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
)

// JPEG marker codes (ITU T.81 Table B.1).
const (
	mSOF0  = 0xc0
	mDHT   = 0xc4
	mJPG   = 0xc8
	mDAC   = 0xcc
	mRST0  = 0xd0
	mRST7  = 0xd7
	mSOI   = 0xd8
	mEOI   = 0xd9
	mSOS   = 0xda
	mDQT   = 0xdb
	mDNL   = 0xdc
	mDRI   = 0xdd
	mDHP   = 0xde
	mEXP   = 0xdf
	mAPP0  = 0xe0
	mAPP1  = 0xe1
	mAPP2  = 0xe2
	mAPP13 = 0xed
	mAPP14 = 0xee
	mAPP15 = 0xef
	mCOM   = 0xfe
	mTEM   = 0x01
)

// jpegScrubber holds the state of one JPEG pass.
type jpegScrubber struct {
	r       *bufio.Reader
	w       *bufio.Writer
	rep     *Report
	buf     [65535]byte // one segment payload at most
	pending int         // a marker found at the end of a scan, or -1
}

func scrubJPEG(r *bufio.Reader, w *bufio.Writer, rep *Report) error {
	s := &jpegScrubber{r: r, w: w, rep: rep, pending: -1}
	if err := s.run(); err != nil {
		return fmt.Errorf("scrub: jpeg: %w", err)
	}
	rep.NotChecked = append(rep.NotChecked,
		"JPEG: the compressed image was not re-encoded; its quantization tables and sensor noise can still hint at the camera model",
		"the visible content of the image (faces, documents, reflections, landmarks) was not checked")
	return nil
}

func (s *jpegScrubber) run() error {
	var soi [2]byte
	if err := readFull(s.r, soi[:]); err != nil {
		return err
	}
	s.w.Write(soi[:])
	sawSOS := false
	for {
		m, err := s.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			if !sawSOS {
				return fmt.Errorf("%w: end of image before any scan", ErrMalformed)
			}
			s.w.Write([]byte{0xff, mEOI})
			return drainTrailer(s.r, s.rep)
		case m == mSOI:
			return fmt.Errorf("%w: second start of image", ErrMalformed)
		case m == mTEM || (m >= mRST0 && m <= mRST7):
			// Stand-alone markers outside a scan carry nothing; drop them.
			continue
		}
		payload, err := s.readSegment()
		if err != nil {
			return err
		}
		switch {
		case m == mAPP0:
			s.app0(payload)
		case m == mAPP14:
			s.app14(payload)
		case m >= mAPP1 && m <= mAPP15:
			s.rep.removed(describeAPP(m, payload))
		case m == mCOM:
			s.rep.removed("JPEG comment (COM)")
		case m == mSOS:
			s.writeSegment(m, payload)
			if err := s.copyScan(); err != nil {
				return err
			}
			sawSOS = true
		case isImageSegment(m):
			s.writeSegment(m, payload)
		case m == mJPG || m >= 0xf0:
			// JPEG extensions (JPEG-LS, …): dropping them would leave an
			// image nobody can decode, keeping them could keep data.
			return fmt.Errorf("%w: JPEG extension marker 0x%02x", ErrUnsupported, m)
		default:
			s.rep.removed(fmt.Sprintf("unknown JPEG segment (marker 0x%02x)", m))
		}
	}
}

// isImageSegment reports whether marker m starts a segment that decoders
// need: frame headers, tables, restart interval, and the other coding
// segments of T.81.
func isImageSegment(m int) bool {
	switch {
	case m >= mSOF0 && m <= 0xcf && m != mJPG:
		return true // SOFn, DHT, DAC
	case m == mDQT, m == mDNL, m == mDRI, m == mDHP, m == mEXP:
		return true
	}
	return false
}

// nextMarker returns the next marker code, skipping fill bytes.
func (s *jpegScrubber) nextMarker() (int, error) {
	if s.pending >= 0 {
		m := s.pending
		s.pending = -1
		return m, nil
	}
	c, err := s.r.ReadByte()
	if err != nil {
		return 0, truncated(err)
	}
	if c != 0xff {
		return 0, fmt.Errorf("%w: expected a marker, found 0x%02x", ErrMalformed, c)
	}
	for {
		c, err = s.r.ReadByte()
		if err != nil {
			return 0, truncated(err)
		}
		if c != 0xff {
			break
		}
	}
	if c == 0 {
		return 0, fmt.Errorf("%w: stuffed zero outside a scan", ErrMalformed)
	}
	return int(c), nil
}

// readSegment reads a segment's length and payload into s.buf.
func (s *jpegScrubber) readSegment() ([]byte, error) {
	var l [2]byte
	if err := readFull(s.r, l[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < 2 {
		return nil, fmt.Errorf("%w: segment length %d", ErrMalformed, n)
	}
	p := s.buf[:n-2]
	if err := readFull(s.r, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *jpegScrubber) writeSegment(m int, payload []byte) {
	n := len(payload) + 2
	s.w.Write([]byte{0xff, byte(m), byte(n >> 8), byte(n)})
	s.w.Write(payload)
}

// copyScan copies entropy-coded data up to the next marker that is not a
// restart marker, and leaves that marker in s.pending.
func (s *jpegScrubber) copyScan() error {
	for {
		chunk, err := s.r.ReadSlice(0xff)
		if err == bufio.ErrBufferFull {
			s.w.Write(chunk)
			continue
		}
		if err != nil {
			return truncated(err)
		}
		s.w.Write(chunk[:len(chunk)-1])
		c, err := s.r.ReadByte()
		for err == nil && c == 0xff {
			c, err = s.r.ReadByte() // fill bytes before a marker
		}
		if err != nil {
			return truncated(err)
		}
		switch {
		case c == 0x00, c >= mRST0 && c <= mRST7:
			s.w.Write([]byte{0xff, c})
		default:
			s.pending = int(c)
			return nil
		}
	}
}

// app0 keeps the JFIF header that decoders use for the pixel aspect ratio,
// rewritten without its thumbnail; any other APP0 (JFXX thumbnails, vendor
// data) is dropped.
func (s *jpegScrubber) app0(p []byte) {
	if !bytes.HasPrefix(p, []byte("JFIF\x00")) {
		if bytes.HasPrefix(p, []byte("JFXX\x00")) {
			s.rep.removed("JFIF extension thumbnail (JFXX)")
		} else {
			s.rep.removed("APP0 vendor data")
		}
		return
	}
	if len(p) > 14 || (len(p) == 14 && (p[12] != 0 || p[13] != 0)) {
		s.rep.removed("JFIF thumbnail")
	}
	// "JFIF\0", version (2), units (1), X and Y density (2+2), and a 0×0
	// thumbnail. A short header is padded with zeros: decoders only look
	// at its name.
	out := make([]byte, 14)
	copy(out, p[:min(len(p), 12)])
	s.writeSegment(mAPP0, out)
}

// app14 keeps the Adobe segment, whose transform flag tells decoders how
// to convert colours (YCbCr, YCCK, CMYK), rewritten with only its fixed
// fields.
func (s *jpegScrubber) app14(p []byte) {
	if len(p) < 12 || !bytes.HasPrefix(p, []byte("Adobe")) {
		s.rep.removed("APP14 vendor data")
		return
	}
	if len(p) > 12 {
		s.rep.removed("extra data in the Adobe segment (APP14)")
	}
	out := make([]byte, 12)
	copy(out, p[:12])
	s.writeSegment(mAPP14, out)
}

// describeAPP names the metadata an APPn segment holds.
func describeAPP(m int, p []byte) string {
	has := func(prefix string) bool { return bytes.HasPrefix(p, []byte(prefix)) }
	switch {
	case m == mAPP1 && (has("Exif\x00\x00") || has("Exif\x00\xff")):
		return exifDescription(p[6:])
	case m == mAPP1 && has("http://ns.adobe.com/xap/1.0/\x00"):
		return "XMP"
	case m == mAPP1 && has("http://ns.adobe.com/xmp/extension/\x00"):
		return "extended XMP"
	case m == mAPP2 && has("ICC_PROFILE\x00"):
		return "ICC colour profile (colours may shift slightly; custom profiles can identify a scanner or screen)"
	case m == mAPP2 && has("MPF\x00"):
		return "multi-picture index (MPF)"
	case m == mAPP2 && has("FPXR\x00"):
		return "FlashPix data (APP2)"
	case m == mAPP13 && (has("Photoshop 3.0\x00") || has("Adobe_Photoshop2.5")):
		return "Photoshop resources and IPTC (APP13)"
	case m == 0xec && has("Ducky"):
		return "Photoshop \"Save for Web\" data (APP12)"
	}
	return fmt.Sprintf("APP%d segment (vendor data)", m-mAPP0)
}

// truncated turns an unexpected end of input into ErrTruncated.
func truncated(err error) error {
	if err == nil {
		return nil
	}
	if isEOF(err) {
		return ErrTruncated
	}
	return err
}
