package bundle

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"sandyq/crypto/sign"
)

type memPin struct {
	key   *sign.PublicKey
	saves int
}

func (m *memPin) LoadPin() (*sign.PublicKey, error) { return m.key, nil }
func (m *memPin) SavePin(k *sign.PublicKey) error {
	m.key = k
	m.saves++
	return nil
}

func TestPin(t *testing.T) {
	a := testKey(t, sign.Instance, 1).Public()
	b := testKey(t, sign.Instance, 2).Public()
	store := &memPin{}
	if err := Pin(store, a); err != nil {
		t.Fatal(err)
	}
	if err := Pin(store, a); err != nil || store.saves != 1 {
		t.Fatalf("pinning the same key again: %v, %d saves", err, store.saves)
	}
	if err := Pin(store, b); !errors.Is(err, ErrPinMismatch) || !store.key.Equal(a) {
		t.Fatalf("pinning another key: %v", err)
	}
	if err := Pin(store, testKey(t, sign.Access, 1).Public()); err == nil {
		t.Fatal("pinned an access key")
	}
}

func TestTrustOnFirstUse(t *testing.T) {
	a := testKey(t, sign.Instance, 1)
	b := testKey(t, sign.Instance, 2)
	contents := [][]byte{content(0, 5)}
	bundleA := write(t, submissions(contents), contents, a)
	bundleB := write(t, submissions(contents), contents, b)

	store := &memPin{}
	// Nothing pinned, no confirmation: refused.
	if _, _, err := readAll(bundleA, Submissions, Pinned(store), nil); !errors.Is(err, ErrNotPinned) || !errors.Is(err, ErrUntrustedSigner) {
		t.Fatalf("nothing pinned: got %v", err)
	}
	// The journalist declines.
	no := errors.New("journalist said no")
	if _, _, err := readAll(bundleA, Submissions, TrustOnFirstUse(store, func(*sign.PublicKey) error { return no }), nil); !errors.Is(err, no) || store.key != nil {
		t.Fatalf("declined: got %v, pinned %v", err, store.key)
	}
	// A damaged bundle never reaches the confirmation.
	damaged := bytes.Clone(bundleA)
	damaged[HeaderSize+3] ^= 1
	asked := false
	ask := func(k *sign.PublicKey) error { asked = true; return nil }
	if _, _, err := readAll(damaged, Submissions, TrustOnFirstUse(store, ask), nil); !errors.Is(err, ErrBadSignature) || asked || store.key != nil {
		t.Fatalf("damaged: got %v, asked %v", err, asked)
	}
	// First use: confirmed and pinned.
	var shown *sign.PublicKey
	ask = func(k *sign.PublicKey) error { shown = k; return nil }
	if _, _, err := readAll(bundleA, Submissions, TrustOnFirstUse(store, ask), nil); err != nil {
		t.Fatal(err)
	}
	if !shown.Equal(a.Public()) || !store.key.Equal(a.Public()) {
		t.Fatal("first key not shown or not pinned")
	}
	// Later: the pinned key only, without asking.
	shown = nil
	if _, _, err := readAll(bundleA, Submissions, TrustOnFirstUse(store, ask), nil); err != nil || shown != nil {
		t.Fatalf("pinned key: %v, asked %v", err, shown != nil)
	}
	if _, _, err := readAll(bundleB, Submissions, TrustOnFirstUse(store, ask), nil); !errors.Is(err, ErrPinMismatch) || shown != nil {
		t.Fatalf("other key: %v", err)
	}
}

func TestPinFile(t *testing.T) {
	a := testKey(t, sign.Instance, 1).Public()
	var buf bytes.Buffer
	if err := WritePin(&buf, a); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPin(bytes.NewReader(buf.Bytes()))
	if err != nil || !got.Equal(a) {
		t.Fatalf("ReadPin: %v", err)
	}
	secret := testKey(t, sign.Instance, 1).String()
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrNotPinned},
		{" \n", ErrNotPinned},
		{secret, sign.ErrSecretKey},
		{testKey(t, sign.Access, 1).Public().String(), sign.ErrWrongKind},
		{strings.Repeat("x", 2000), nil},
	} {
		_, err := ReadPin(strings.NewReader(tc.in))
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("ReadPin(%.20q): got %v, want %v", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error repeats the secret key")
		}
	}
	// PinFuncs adapts a pair of functions.
	var saved *sign.PublicKey
	pf := PinFuncs{Load: func() (*sign.PublicKey, error) { return saved, nil }, Save: func(k *sign.PublicKey) error { saved = k; return nil }}
	if err := Pin(pf, a); err != nil || !saved.Equal(a) {
		t.Fatalf("PinFuncs: %v", err)
	}
}
