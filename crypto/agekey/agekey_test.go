package agekey

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/crypto/internal/bech32"
)

// fixed is a deterministic reader of the bytes 0, 1, 2, ….
type fixed struct{ n byte }

func (f *fixed) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = f.n
		f.n++
	}
	return len(p), nil
}

func TestDeterministic(t *testing.T) {
	a, err := GenerateHybrid(&fixed{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateHybrid(&fixed{})
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || a.Recipient().String() != b.Recipient().String() {
		t.Fatal("GenerateHybrid is not deterministic")
	}
	seed := make([]byte, SeedSize)
	(&fixed{}).Read(seed)
	c, err := HybridFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != a.String() {
		t.Fatal("GenerateHybrid and HybridFromSeed disagree")
	}
	if !strings.HasPrefix(a.String(), "AGE-SECRET-KEY-PQ-1") || !strings.HasPrefix(a.Recipient().String(), "age1pq1") {
		t.Fatal("not a hybrid identity")
	}
	_, got, err := bech32.Decode(a.String())
	if err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("identity does not encode its seed (%v)", err)
	}
	d, err := GenerateHybrid(&fixed{n: 7})
	if err != nil || d.String() == a.String() {
		t.Fatalf("different seeds gave the same identity (%v)", err)
	}
}

func TestRoundTrip(t *testing.T) {
	id, err := GenerateHybrid(&fixed{n: 42})
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.ParseHybridRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "a tip")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pr, err := age.Decrypt(bytes.NewReader(buf.Bytes()), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(pr)
	if err != nil || string(got) != "a tip" {
		t.Fatalf("got %q, %v", got, err)
	}
	other, _ := GenerateHybrid(&fixed{n: 43})
	if _, err := age.Decrypt(bytes.NewReader(buf.Bytes()), other); err == nil {
		t.Fatal("another identity decrypted")
	}
}

func TestSeedSize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := HybridFromSeed(make([]byte, n))
		if !errors.Is(err, ErrSeedSize) {
			t.Errorf("seed of %d bytes: %v", n, err)
		}
	}
	if _, err := GenerateHybrid(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("short randomness accepted")
	}
}

// age itself refuses a seed of another size encoded the same way, so the
// seed size is what age expects, not an accident of this package.
func TestAgeRefusesOtherSizes(t *testing.T) {
	for _, n := range []int{16, 64} {
		s, err := bech32.Encode(hrp, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := age.ParseHybridIdentity(s); err == nil {
			t.Errorf("age accepted a %d-byte seed", n)
		}
	}
}
