package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"sandyq/crypto/sign"
)

func TestRoundTrip(t *testing.T) {
	inst := testKey(t, sign.Instance, 1)
	acc := testKey(t, sign.Access, 2)
	big := content(9, 3<<20+17)
	cases := []struct {
		name     string
		contents [][]byte
	}{
		{"zero items", nil},
		{"one item", [][]byte{content(0, 100)}},
		{"empty item", [][]byte{{}}},
		{"many", [][]byte{content(0, 1), {}, content(2, 65536), big, content(4, 65537), {}, content(6, 3)}},
	}
	for _, tc := range cases {
		for _, typ := range []Type{Submissions, Replies} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, typ), func(t *testing.T) {
				m, key := submissions(tc.contents), inst
				if typ == Replies {
					m, key = replies(tc.contents), acc
				}
				data := write(t, m, tc.contents, key)
				got, items, err := readAll(data, typ, TrustKeys(key.Public()), nil)
				if err != nil {
					t.Fatal(err)
				}
				want := *m
				want.Signer = key.Public()
				normalize(&want)
				normalize(got)
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("manifest:\n got %+v\nwant %+v", got, &want)
				}
				if len(items) != len(tc.contents) {
					t.Fatalf("%d items, want %d", len(items), len(tc.contents))
				}
				for i := range items {
					if !bytes.Equal(items[i], tc.contents[i]) {
						t.Errorf("item %d differs", i)
					}
				}
			})
		}
	}
}

// normalize makes nil and empty slices compare equal.
func normalize(m *Manifest) {
	if len(m.Sources) == 0 {
		m.Sources = nil
	}
	if len(m.Items) == 0 {
		m.Items = nil
	}
	if len(m.Replies) == 0 {
		m.Replies = nil
	}
	if len(m.Rewraps) == 0 {
		m.Rewraps = nil
	}
}

// headerErrors are the errors a damaged header, manifest or signature may
// give. Success is never acceptable.
var headerErrors = []error{ErrBadSignature, ErrNotBundle, ErrUnsupportedVersion, ErrWrongType,
	ErrMalformedHeader, ErrTooLarge, ErrTruncated}

func isOneOf(err error, errs ...error) bool {
	for _, e := range errs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func TestFlipHeaderAndManifest(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	contents := [][]byte{content(0, 10), content(1, 20), {}}
	for _, many := range []bool{false, true} {
		cs := contents
		if many {
			cs = nil
			for i := range 500 {
				cs = append(cs, content(i, i%5))
			}
		}
		data := write(t, submissions(cs), cs, key)
		m := submissions(cs)
		m.Signer = key.Public()
		body, _ := m.marshal()
		end := HeaderSize + len(body)
		step := 1
		if end > 4096 {
			step = end / 256 // sampled, but every header byte
		}
		n := 0
		for pos := 0; pos < end; pos++ {
			if pos >= HeaderSize && (pos-HeaderSize)%step != 0 {
				continue
			}
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(data)
				bad[pos] ^= bit
				_, _, err := readAll(bad, Submissions, TrustKeys(key.Public()), nil)
				if err == nil {
					t.Fatalf("flip at %d (bit %#x) accepted", pos, bit)
				}
				if !isOneOf(err, headerErrors...) {
					t.Fatalf("flip at %d: unexpected error %v", pos, err)
				}
				n++
			}
		}
		t.Logf("%d flips refused (manifest %d bytes)", n, len(body))
	}
}

func TestFlipItem(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	contents := [][]byte{content(0, 10), content(1, 1), content(2, 70000)}
	data := write(t, submissions(contents), contents, key)
	m := submissions(contents)
	m.Signer = key.Public()
	body, _ := m.marshal()
	off := HeaderSize + len(body)
	for i, c := range contents {
		for _, pos := range []int{0, len(c) / 2, len(c) - 1} {
			bad := bytes.Clone(data)
			bad[off+pos] ^= 0x04
			_, items, err := readAll(bad, Submissions, TrustKeys(key.Public()), nil)
			var ie *ItemError
			if !errors.Is(err, ErrItemHash) || !errors.As(err, &ie) || ie.ID != id16(i) {
				t.Fatalf("item %d byte %d: got %v", i, pos, err)
			}
			if len(items) != i {
				t.Errorf("item %d: %d items delivered before the error", i, len(items))
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%x", id16(i))) {
				t.Errorf("error %q does not name the item", err)
			}
		}
		off += len(c)
	}
}

func TestSkippedItemIsChecked(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	contents := [][]byte{content(0, 100), content(1, 100)}
	data := write(t, submissions(contents), contents, key)
	data[len(data)-150] ^= 1 // in item 0
	r, err := NewReader(bytes.NewReader(data), Submissions, TrustKeys(key.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Next() // skips item 0 unread
	if !errors.Is(err, ErrItemHash) {
		t.Fatalf("got %v, want ErrItemHash", err)
	}
	if _, _, err2 := r.Next(); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}
}

func TestTruncation(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	contents := [][]byte{content(0, 10), {}, content(2, 300), content(3, 1)}
	data := write(t, submissions(contents), contents, key)
	for n := 0; n < len(data); n++ {
		_, _, err := readAll(data[:n], Submissions, TrustKeys(key.Public()), nil)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("truncated to %d of %d bytes: got %v, want ErrTruncated", n, len(data), err)
		}
	}
	// One byte at a time, too.
	r, err := NewReader(&oneByteReader{data[:len(data)-1]}, Submissions, TrustKeys(key.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, ir, err := r.Next()
		if err == nil {
			_, err = io.ReadAll(ir)
		}
		if err != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("got %v, want ErrTruncated", err)
			}
			break
		}
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestTrailingData(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	for _, contents := range [][][]byte{nil, {content(0, 5)}} {
		data := write(t, submissions(contents), contents, key)
		for _, extra := range []string{"\x00", "x", "garbage after the bundle"} {
			_, _, err := readAll(append(bytes.Clone(data), extra...), Submissions, TrustKeys(key.Public()), nil)
			if !errors.Is(err, ErrTrailingData) {
				t.Errorf("%d items + %q: got %v, want ErrTrailingData", len(contents), extra, err)
			}
		}
	}
}

func TestUntrustedSigner(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	other := testKey(t, sign.Instance, 3)
	contents := [][]byte{content(0, 5)}
	data := write(t, submissions(contents), contents, other)
	_, _, err := readAll(data, Submissions, TrustKeys(key.Public()), nil)
	if !errors.Is(err, ErrUntrustedSigner) {
		t.Fatalf("got %v, want ErrUntrustedSigner", err)
	}
	// The other key's bytes with a valid signature by ours: bad signature.
	bad := bytes.Clone(write(t, submissions(contents), contents, key))
	copy(bad[offSigner:offManifestLen], other.Public().Bytes())
	if _, _, err := readAll(bad, Submissions, TrustKeys(key.Public(), other.Public()), nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("swapped signer key: got %v, want ErrBadSignature", err)
	}
}

func TestDomainSeparation(t *testing.T) {
	inst := testKey(t, sign.Instance, 1)
	acc := testKey(t, sign.Access, 1) // same seed: same Ed25519 key
	contents := [][]byte{content(0, 5)}
	sub := write(t, submissions(contents), contents, inst)
	rep := write(t, replies(contents), contents, acc)
	trust := TrustKeys(inst.Public(), acc.Public())

	if _, _, err := readAll(rep, Submissions, trust, nil); !errors.Is(err, ErrWrongType) {
		t.Errorf("reply bundle as submissions: got %v", err)
	}
	if _, _, err := readAll(sub, Replies, trust, nil); !errors.Is(err, ErrWrongType) {
		t.Errorf("submissions bundle as replies: got %v", err)
	}
	// Changing the type byte breaks the signature (its context differs).
	relabeled := bytes.Clone(rep)
	relabeled[offType] = byte(Submissions)
	if _, _, err := readAll(relabeled, Submissions, trust, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("relabeled reply bundle: got %v", err)
	}
	// A signature for another purpose over the same bytes.
	m := submissions(contents)
	m.Signer = inst.Public()
	body, _ := m.marshal()
	h := header{typ: Submissions, signer: inst.Public().Bytes(), manifestLen: uint64(len(body))}
	hdr := h.marshal()
	forged := append(hdr, inst.Sign("recipient-set", signedMessage(hdr, body))...)
	forged = append(append(forged, body...), contents[0]...)
	if _, _, err := readAll(forged, Submissions, trust, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature of another context: got %v", err)
	}
	// A type this version does not define is refused.
	if _, err := NewReader(bytes.NewReader(sub), Type(4), trust, nil); !errors.Is(err, ErrWrongType) {
		t.Errorf("reading type 4: got %v", err)
	}
	unknown := bytes.Clone(sub)
	unknown[offType] = 4
	if _, err := NewReader(bytes.NewReader(unknown), Submissions, trust, nil); !errors.Is(err, ErrWrongType) {
		t.Errorf("a bundle of type 4: got %v", err)
	}
}

func TestHeaderErrors(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	data := write(t, submissions(nil), nil, key)
	set := func(off int, b ...byte) []byte {
		d := bytes.Clone(data)
		copy(d[off:], b)
		return d
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"not a bundle", []byte("PK\x03\x04 a zip file, not a bundle"), ErrNotBundle},
		{"short other file", []byte("x"), ErrNotBundle},
		{"version 2", set(14, '2'), ErrUnsupportedVersion},
		{"reserved", set(offReserved+1, 1), ErrMalformedHeader},
		{"zero manifest", set(offManifestLen, 0, 0, 0, 0, 0, 0, 0, 0), ErrMalformedHeader},
		{"huge manifest", set(offManifestLen, 0, 0, 0, 0, 1, 0, 0, 1), ErrTooLarge},
		{"max uint64 manifest", set(offManifestLen, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), ErrTooLarge},
		{"manifest longer than file", set(offManifestLen, 0, 0, 0, 0, 0, 0xff, 0, 0), ErrTruncated},
	}
	for _, tc := range cases {
		_, _, err := readAll(tc.data, Submissions, TrustKeys(key.Public()), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestMaxTotalSize(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	contents := [][]byte{content(0, 600), content(1, 500)}
	data := write(t, submissions(contents), contents, key)
	if _, _, err := readAll(data, Submissions, TrustKeys(key.Public()), &ReaderOptions{MaxTotalSize: 1099}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: got %v", err)
	}
	if _, _, err := readAll(data, Submissions, TrustKeys(key.Public()), &ReaderOptions{MaxTotalSize: 1100}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}
