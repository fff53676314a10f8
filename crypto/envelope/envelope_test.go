package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/crypto/internal/bech32"
	"sandyq/crypto/padme"
)

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func pqIdentity(t testing.TB, b byte) *age.HybridIdentity {
	s, _ := bech32.Encode("AGE-SECRET-KEY-PQ-", seed(b))
	id, err := age.ParseHybridIdentity(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func x25519Identity(t testing.TB, b byte) *age.X25519Identity {
	s, _ := bech32.Encode("AGE-SECRET-KEY-", seed(b))
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testHeader(k Kind) *Header {
	h := &Header{Kind: k, Sequence: 42}
	for i := range h.ItemID {
		h.ItemID[i] = byte(i)
	}
	for i := range h.SourceID {
		h.SourceID[i] = byte(0xa0 + i)
	}
	if k == File {
		h.Filename = "../évidence\u202e.pdf"
		h.MediaType = "application/pdf"
	}
	return h
}

func content(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n)})
	r.Read(b)
	return b
}

// plaintext returns the envelope plaintext of h and c, without age.
func plaintext(t testing.TB, h *Header, c []byte) []byte {
	var buf bytes.Buffer
	w, err := newWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(c); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func seal(t testing.TB, h *Header, c []byte, r ...age.Recipient) []byte {
	var buf bytes.Buffer
	w, err := Seal(&buf, h, r...)
	if err != nil {
		t.Fatal(err)
	}
	// Write in uneven pieces to exercise frame buffering.
	for len(c) > 0 {
		k := min(len(c), 1+len(c)%70001)
		if _, err := w.Write(c[:k]); err != nil {
			t.Fatal(err)
		}
		c = c[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	return buf.Bytes()
}

func readAll(r io.Reader, ids ...age.Identity) (*Header, []byte, error) {
	er, err := Open(r, ids...)
	if err != nil {
		return nil, nil, err
	}
	c, err := io.ReadAll(er)
	return &er.Header, c, err
}

func TestRoundTrip(t *testing.T) {
	id := pqIdentity(t, 1)
	sizes := []int{0, 1, 2, FrameSize - 1, FrameSize, FrameSize + 1, 2 * FrameSize, 3*FrameSize + 17, 5 << 20}
	for _, k := range []Kind{Message, File, Reply} {
		for _, n := range sizes {
			h, c := testHeader(k), content(n)
			ct := seal(t, h, c, id.Recipient())
			got, gc, err := readAll(bytes.NewReader(ct), id)
			if err != nil {
				t.Fatalf("kind %d size %d: %v", k, n, err)
			}
			if !bytes.Equal(gc, c) || got.Matches(h) != nil {
				t.Fatalf("kind %d size %d: round trip differs", k, n)
			}
			pt := plaintext(t, h, c)
			if int64(len(pt)) != PaddedSize(h, int64(n)) || int64(len(pt)) != padme.Len(unpaddedSize(int64(h.Len()), int64(n))) {
				t.Fatalf("size %d: plaintext %d bytes, PaddedSize %d", n, len(pt), PaddedSize(h, int64(n)))
			}
		}
	}
}

func TestWrongIdentity(t *testing.T) {
	ct := seal(t, testHeader(Message), []byte("hi"), pqIdentity(t, 1).Recipient())
	_, _, err := readAll(bytes.NewReader(ct), pqIdentity(t, 2))
	if !errors.Is(err, age.ErrIncorrectIdentity) {
		t.Fatalf("wrong identity: %v", err)
	}
	var nm *age.NoIdentityMatchError
	if !errors.As(err, &nm) {
		t.Fatalf("errors.As NoIdentityMatchError: %v", err)
	}
	// age refuses to mix PQ and classic recipients; the error is age's.
	if _, err := Seal(io.Discard, testHeader(Message), pqIdentity(t, 1).Recipient(), x25519Identity(t, 1).Recipient()); err == nil {
		t.Fatal("mixed recipients accepted")
	}
}

func TestTamperCiphertext(t *testing.T) {
	id := x25519Identity(t, 1)
	c := content(3*FrameSize + 100)
	ct := seal(t, testHeader(File), c, id.Recipient())
	positions := []int{0, 10, 50, 100, len(ct) / 3, len(ct) / 2, len(ct) - 17, len(ct) - 2, len(ct) - 1}
	r := rand.New(rand.NewPCG(1, 1))
	for range 40 {
		positions = append(positions, r.IntN(len(ct)))
	}
	for _, p := range positions {
		bad := bytes.Clone(ct)
		bad[p] ^= 0x04
		if _, gc, err := readAll(bytes.NewReader(bad), id); err == nil {
			t.Fatalf("flipped byte %d of %d: no error (%d bytes read)", p, len(ct), len(gc))
		}
	}
	for _, n := range []int{0, 1, 20, 100, 200, len(ct) / 2, len(ct) - 65536 - 16, len(ct) - 100, len(ct) - 17, len(ct) - 1} {
		if _, _, err := readAll(bytes.NewReader(ct[:n]), id); err == nil {
			t.Fatalf("truncated to %d of %d: no error", n, len(ct))
		}
	}
	if _, _, err := readAll(bytes.NewReader(append(bytes.Clone(ct), 0)), id); err == nil {
		t.Fatal("appended byte: no error")
	}
}

// Plaintext-level damage gives the exact sentinel error.
func TestTamperPlaintext(t *testing.T) {
	h := testHeader(File)
	c := content(FrameSize + 10)
	pt := plaintext(t, h, c)
	hl := h.Len()
	unpadded := int(unpaddedSize(int64(hl), int64(len(c))))
	if unpadded == len(pt) {
		t.Fatal("test needs padding")
	}
	read := func(b []byte) error {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, r)
		return err
	}
	if err := read(pt); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(pt)) }
	trailer := unpadded - trailerLen
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"magic", mod(func(b []byte) []byte { b[0] = 's'; return b }), ErrMalformedHeader},
		{"version", mod(func(b []byte) []byte { b[8] = 2; return b }), ErrUnsupportedVersion},
		{"kind 0", mod(func(b []byte) []byte { b[57] = 0; return b }), ErrMalformedHeader},
		{"kind 9", mod(func(b []byte) []byte { b[57] = 9; return b }), ErrMalformedHeader},
		{"file fields on message", mod(func(b []byte) []byte { b[57] = byte(Message); return b }), ErrMalformedHeader},
		{"filename too long", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[66:], MaxFilename+1); return b }), ErrMalformedHeader},
		{"media type not ASCII", mod(func(b []byte) []byte { b[hl-1] = 0x7f; return b }), ErrMalformedHeader},
		{"header hash", mod(func(b []byte) []byte { b[20] ^= 1; return b }), ErrTrailerMismatch},
		{"content", mod(func(b []byte) []byte { b[hl+4+100] ^= 1; return b }), ErrTrailerMismatch},
		{"trailer length", mod(func(b []byte) []byte { b[trailer+7] ^= 1; return b }), ErrTrailerMismatch},
		{"trailer hash", mod(func(b []byte) []byte { b[unpadded-1] ^= 1; return b }), ErrTrailerMismatch},
		{"frame too long", mod(func(b []byte) []byte { binary.BigEndian.PutUint32(b[hl:], FrameSize+1); return b }), ErrMalformedFrame},
		{"padding", mod(func(b []byte) []byte { b[len(b)-1] = 1; return b }), ErrBadPadding},
		{"padding first", mod(func(b []byte) []byte { b[unpadded] = 0x80; return b }), ErrBadPadding},
		{"trailing zero", append(bytes.Clone(pt), 0), ErrTrailingData},
		{"truncated padding", pt[:len(pt)-1], ErrTruncated},
		{"truncated trailer", pt[:unpadded-1], ErrTruncated},
		{"truncated end frame", pt[:trailer-2], ErrTruncated},
		{"truncated content", pt[:hl+100], ErrTruncated},
		{"truncated frame length", pt[:hl+2], ErrTruncated},
		{"truncated header", pt[:hl-1], ErrTruncated},
		{"empty", nil, ErrTruncated},
	}
	for _, tc := range tests {
		if err := read(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Truncation at every point is an error.
	for n := range len(pt) {
		if err := read(pt[:n]); err == nil {
			t.Fatalf("truncated to %d: no error", n)
		}
	}
	// A short frame that is not the last one.
	var b bytes.Buffer
	hdr := h.append(nil)
	b.Write(hdr)
	for _, f := range [][]byte{[]byte("ab"), []byte("cd")} {
		binary.Write(&b, binary.BigEndian, uint32(len(f)))
		b.Write(f)
	}
	if err := read(b.Bytes()); !errors.Is(err, ErrMalformedFrame) {
		t.Errorf("short frame before the last: %v", err)
	}
}

// The trailer hash covers header||content.
func TestTrailerHash(t *testing.T) {
	h := testHeader(Message)
	c := []byte("hello")
	pt := plaintext(t, h, c)
	hl := h.Len()
	sum := sha256.Sum256(append(h.append(nil), c...))
	off := hl + 4 + len(c) + 4
	if binary.BigEndian.Uint64(pt[off:]) != 5 || !bytes.Equal(pt[off+8:off+40], sum[:]) {
		t.Fatal("trailer is not length || SHA-256(header || content)")
	}
}

func TestMatches(t *testing.T) {
	id := pqIdentity(t, 1)
	want := testHeader(File)
	moved := *want
	moved.SourceID[0] ^= 1
	ct := seal(t, &moved, []byte("x"), id.Recipient())
	got, _, err := readAll(bytes.NewReader(ct), id)
	if err != nil {
		t.Fatalf("an envelope for another source must parse: %v", err)
	}
	if err := got.Matches(want); !errors.Is(err, ErrContextMismatch) || !strings.Contains(err.Error(), "source ID") {
		t.Fatalf("Matches: %v", err)
	}
	for name, f := range map[string]func(h *Header){
		"item ID":    func(h *Header) { h.ItemID[15] = 0 },
		"kind":       func(h *Header) { h.Kind = Reply },
		"sequence":   func(h *Header) { h.Sequence++ },
		"filename":   func(h *Header) { h.Filename += "x" },
		"media type": func(h *Header) { h.MediaType = "" },
	} {
		other := *want
		f(&other)
		if err := other.Matches(want); !errors.Is(err, ErrContextMismatch) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := want.Matches(testHeader(File)); err != nil {
		t.Fatal(err)
	}
}

func TestSealRefusesBadHeader(t *testing.T) {
	r := x25519Identity(t, 1).Recipient()
	for name, h := range map[string]*Header{
		"kind 0":              {},
		"filename on message": {Kind: Message, Filename: "a"},
		"media on reply":      {Kind: Reply, MediaType: "text/plain"},
		"long filename":       {Kind: File, Filename: strings.Repeat("a", MaxFilename+1)},
		"long media type":     {Kind: File, MediaType: strings.Repeat("a", MaxMediaType+1)},
		"media type newline":  {Kind: File, MediaType: "text/plain\n"},
	} {
		if _, err := Seal(io.Discard, h, r); !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("%s: %v", name, err)
		}
	}
	h := &Header{Kind: File, Filename: strings.Repeat("\xff", MaxFilename), MediaType: strings.Repeat("a", MaxMediaType)}
	ct := seal(t, h, nil, r)
	got, _, err := readAll(bytes.NewReader(ct), x25519Identity(t, 1))
	if err != nil || got.Matches(h) != nil {
		t.Fatalf("maximal header: %v", err)
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

var errDisk = errors.New("disk full")

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDisk
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	for _, n := range []int{0, 100, 70000, 200000} {
		w, err := Seal(&errWriter{n: n}, testHeader(Message), x25519Identity(t, 1).Recipient())
		if err != nil {
			if !errors.Is(err, errDisk) {
				t.Fatal(err)
			}
			continue
		}
		_, werr := w.Write(content(300000))
		cerr := w.Close()
		if !errors.Is(werr, errDisk) && !errors.Is(cerr, errDisk) {
			t.Errorf("after %d bytes: write %v, close %v", n, werr, cerr)
		}
	}
}

func FuzzNewReader(f *testing.F) {
	f.Add(plaintext(f, testHeader(Message), nil))
	f.Add(plaintext(f, testHeader(File), []byte("hello")))
	f.Add(plaintext(f, testHeader(Reply), content(FrameSize+3)))
	f.Add([]byte(magic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		c, err := io.ReadAll(r)
		if err != nil {
			return
		}
		// Accepted input is canonical: encoding it again gives the same bytes.
		if again := plaintext(t, &r.Header, c); !bytes.Equal(again, data) {
			t.Fatalf("accepted non-canonical envelope (%d bytes, re-encoded %d)", len(data), len(again))
		}
	})
}
