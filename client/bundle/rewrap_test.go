package bundle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"sandyq/crypto/sign"
)

// rewraps returns a rewrap manifest for items with the given contents.
func rewraps(contents [][]byte) *Manifest {
	m := &Manifest{Type: Rewraps}
	for i, c := range contents {
		m.Rewraps = append(m.Rewraps, Rewrap{
			ID: id16(i), Source: id32(i % 2), SetID: [16]byte{0x5e, byte(i)},
			Size: int64(len(c)), SHA256: sha256.Sum256(c),
		})
	}
	return m
}

func TestRewrapRoundTrip(t *testing.T) {
	acc := testKey(t, sign.Access, 2)
	for _, n := range []int{0, 1, 3} {
		var contents [][]byte
		for i := range n {
			contents = append(contents, content(i, 100*i+7))
		}
		m := rewraps(contents)
		data := write(t, m, contents, acc)
		got, items, err := readAll(data, Rewraps, TrustKeys(acc.Public()), nil)
		if err != nil {
			t.Fatalf("%d items: %v", n, err)
		}
		want := *m
		want.Signer = acc.Public()
		normalize(&want)
		normalize(got)
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%d items: manifest read back differently", n)
		}
		if len(items) != n {
			t.Fatalf("%d items: read %d", n, len(items))
		}
		for i := range items {
			if !bytes.Equal(items[i], contents[i]) {
				t.Errorf("%d items: item %d differs", n, i)
			}
		}
	}
}

func TestRewrapCanonicalForm(t *testing.T) {
	acc := testKey(t, sign.Access, 2)
	got := canonical(t, rewraps([][]byte{{}}), acc)
	want := `{"version":1,"type":"rewrap","signer":"` + acc.Public().String() +
		`","items":[{"id":"10000000000000000000000000000000","source":"a0` + strings.Repeat("0", 62) +
		`","set":"5e000000000000000000000000000000","size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}`
	if got != want {
		t.Errorf("canonical form:\n got %s\nwant %s", got, want)
	}
	got = canonical(t, rewraps(nil), acc)
	if want := `{"version":1,"type":"rewrap","signer":"` + acc.Public().String() + `","items":[]}`; got != want {
		t.Errorf("empty rewrap bundle:\n got %s\nwant %s", got, want)
	}
}

func TestRewrapManifestRefused(t *testing.T) {
	acc := testKey(t, sign.Access, 2)
	contents := [][]byte{content(0, 3), content(1, 4)}
	good := canonical(t, rewraps(contents), acc)
	set0 := `"set":"5e000000000000000000000000000000"`
	repl := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("test bug: %q not in manifest", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	item0 := fmt.Sprintf(`{"id":"%x"`, id16(0))
	item1 := fmt.Sprintf(`{"id":"%x"`, id16(1))
	cases := []struct {
		name     string
		manifest string
		want     error
	}{
		{"missing set", repl(set0+",", ""), ErrMalformedManifest},
		{"a submissions field", repl(set0, set0+`,"kind":"file"`), ErrMalformedManifest},
		{"replies instead of items", repl(`"items":`, `"replies":`), ErrMalformedManifest},
		{"cursor", repl(`"items":`, `"after":1,"items":`), ErrMalformedManifest},
		{"upper-case set", repl(set0, `"set":"5E000000000000000000000000000000"`), ErrInvalidManifest},
		{"short set", repl(set0, `"set":"5e"`), ErrInvalidManifest},
		{"type replies", repl(`"type":"rewrap"`, `"type":"replies"`), ErrInvalidManifest},
		{"negative size", repl(`"size":3`, `"size":-3`), ErrInvalidManifest},
		{"duplicate item", repl(item1, item0), ErrInvalidManifest},
		{"whitespace", repl(`,"items"`, `, "items"`), ErrMalformedManifest},
	}
	for _, tc := range cases {
		data := raw(Rewraps, acc, []byte(tc.manifest), contents...)
		_, _, err := readAll(data, Rewraps, TrustKeys(acc.Public()), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := readAll(raw(Rewraps, acc, []byte(good), contents...), Rewraps, TrustKeys(acc.Public()), nil); err != nil {
		t.Fatalf("the unchanged manifest: %v", err)
	}
}

func TestRewrapTrustAndTypes(t *testing.T) {
	inst := testKey(t, sign.Instance, 1)
	acc := testKey(t, sign.Access, 2)
	other := testKey(t, sign.Access, 3)
	contents := [][]byte{content(0, 5)}
	rw := write(t, rewraps(contents), contents, acc)

	if _, _, err := readAll(rw, Rewraps, TrustKeys(other.Public()), nil); !errors.Is(err, ErrUntrustedSigner) {
		t.Errorf("another journalist's rewrap bundle: got %v", err)
	}
	if _, err := NewWriter(new(bytes.Buffer), rewraps(contents), inst); err == nil {
		t.Error("a rewrap bundle signed with an instance key was written")
	}
	rep := write(t, replies(contents), contents, acc)
	if _, _, err := readAll(rep, Rewraps, TrustKeys(acc.Public()), nil); !errors.Is(err, ErrWrongType) {
		t.Errorf("reply bundle as rewrap: got %v", err)
	}
	if _, _, err := readAll(rw, Replies, TrustKeys(acc.Public()), nil); !errors.Is(err, ErrWrongType) {
		t.Errorf("rewrap bundle as replies: got %v", err)
	}
	// The type byte is signed, and each type has its own context.
	relabeled := bytes.Clone(rep)
	relabeled[offType] = byte(Rewraps)
	if _, _, err := readAll(relabeled, Rewraps, TrustKeys(acc.Public()), nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("relabeled reply bundle: got %v", err)
	}
	// Damage and truncation are found in the new ciphertexts as anywhere.
	flipped := bytes.Clone(rw)
	flipped[len(flipped)-1] ^= 1
	var ie *ItemError
	if _, _, err := readAll(flipped, Rewraps, TrustKeys(acc.Public()), nil); !errors.Is(err, ErrItemHash) || !errors.As(err, &ie) || ie.ID != id16(0) {
		t.Errorf("flipped item: got %v", err)
	}
	for cut := 1; cut < len(rw); cut += 37 {
		if _, _, err := readAll(rw[:len(rw)-cut], Rewraps, TrustKeys(acc.Public()), nil); err == nil {
			t.Fatalf("cut %d bytes: accepted", cut)
		}
	}
}

// FuzzRewrapManifest checks the strict parser for rewrap manifests:
// whatever it accepts re-encodes to exactly the same bytes.
func FuzzRewrapManifest(f *testing.F) {
	acc := testKey(f, sign.Access, 2).Public()
	m, _ := rewrapVectorInputs()
	m.Signer = acc
	b, err := m.marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(bytes.Replace(b, []byte(`"set"`), []byte(`"Set"`), 1))
	f.Add([]byte(`{"version":1,"type":"rewrap","signer":"x","items":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data, Rewraps, acc, DefaultMaxTotalSize)
		if err != nil {
			return
		}
		again, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted a non-canonical manifest:\n in %q\nout %q", data, again)
		}
		if err := m.validate(DefaultMaxTotalSize); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
	})
}

func TestTypeOf(t *testing.T) {
	acc := testKey(t, sign.Access, 2)
	inst := testKey(t, sign.Instance, 1)
	for _, tc := range []struct {
		data []byte
		want Type
	}{
		{write(t, rewraps(nil), nil, acc), Rewraps},
		{write(t, replies(nil), nil, acc), Replies},
		{write(t, submissions(nil), nil, inst), Submissions},
	} {
		if got, err := TypeOf(tc.data[:HeaderSize]); err != nil || got != tc.want {
			t.Errorf("TypeOf: %v, %v; want %v", got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		data []byte
		want error
	}{
		{[]byte("PK\x03\x04"), ErrNotBundle},
		{[]byte("sandyq-bundle/2\n\x01"), ErrUnsupportedVersion},
		{[]byte("sandyq-bundle/1\n"), ErrTruncated},
		{[]byte("sandy"), ErrTruncated},
	} {
		if _, err := TypeOf(tc.data); !errors.Is(err, tc.want) {
			t.Errorf("TypeOf(%q): %v, want %v", tc.data, err, tc.want)
		}
	}
}
