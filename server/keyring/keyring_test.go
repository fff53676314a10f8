package keyring

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/store"
)

var t0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

type fixture struct {
	st       *store.Store
	newsroom *sign.PrivateKey
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, newsroom: k, now: t0}
}

func (f *fixture) keyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := New(f.st, f.newsroom.Public(), func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signedSet(t *testing.T, k *sign.PrivateKey, from, to time.Time) ([]byte, *age.HybridIdentity) {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	s, err := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return raw, id
}

func TestNoSet(t *testing.T) {
	f := newFixture(t)
	if _, err := f.keyring(t).Current(); !errors.Is(err, ErrNoSet) {
		t.Fatalf("Current() on an empty store: %v, want ErrNoSet", err)
	}
}

func TestScheduleSwitchesAtBoundaries(t *testing.T) {
	f := newFixture(t)
	k := f.keyring(t)
	day := 24 * time.Hour
	var ids [3][16]byte
	for i := range 3 {
		raw, _ := signedSet(t, f.newsroom, t0.Add(time.Duration(i)*30*day), t0.Add(time.Duration(i+1)*30*day+day))
		s, err := k.Install(raw)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{{0, 0}, {29 * day, 0}, {30 * day, 1}, {30*day + 12*time.Hour, 1}, {60 * day, 2}, {90*day + 23*time.Hour, 2}} {
		s, err := k.At(t0.Add(tc.at))
		if err != nil {
			t.Fatalf("At(+%v): %v", tc.at, err)
		}
		if s.ID != ids[tc.want] {
			t.Errorf("At(+%v) = set %x, want set %d", tc.at, s.ID, tc.want)
		}
	}
	if _, err := k.At(t0.Add(92 * day)); !errors.Is(err, ErrNoSet) {
		t.Errorf("after the schedule ends: %v, want ErrNoSet", err)
	}
	// A fresh keyring over the same store makes the same choices.
	k2 := f.keyring(t)
	if s, _ := k2.At(t0.Add(45 * day)); s == nil || s.ID != ids[1] {
		t.Errorf("reloaded keyring chose differently")
	}
}

func TestInstallRefuses(t *testing.T) {
	f := newFixture(t)
	k := f.keyring(t)
	other, _ := sign.Generate(rand.Reader, sign.Newsroom)
	raw, _ := signedSet(t, other, t0, t0.Add(time.Hour))
	if _, err := k.Install(raw); !errors.Is(err, recipients.ErrWrongSigner) {
		t.Errorf("set signed by another key: %v, want ErrWrongSigner", err)
	}
	raw, _ = signedSet(t, f.newsroom, t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	if _, err := k.Install(raw); err == nil {
		t.Error("expired set installed")
	}
	raw, _ = signedSet(t, f.newsroom, t0, t0.Add(time.Hour))
	raw[len(raw)/2] ^= 1
	if _, err := k.Install(raw); err == nil {
		t.Error("tampered set installed")
	}
	raw, _ = signedSet(t, f.newsroom, t0, t0.Add(time.Hour))
	if _, err := k.Install(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Install(raw); err != nil {
		t.Errorf("installing the same set twice: %v", err)
	}
	if n := len(k.All()); n != 1 {
		t.Errorf("after installing one set twice: %d sets", n)
	}
	if sets, _ := f.st.RecipientSets(); len(sets) != 1 {
		t.Errorf("refused sets reached the store: %d sets stored, want 1", len(sets))
	}
}

func TestTamperedStoreRefusedAtLoad(t *testing.T) {
	f := newFixture(t)
	raw, _ := signedSet(t, f.newsroom, t0, t0.Add(time.Hour))
	if _, err := f.keyring(t).Install(raw); err != nil {
		t.Fatal(err)
	}
	sets, _ := f.st.RecipientSets()
	for id, raw := range sets {
		bad := bytes.Clone(raw)
		bad[len(bad)/3] ^= 1
		if err := f.st.DeleteRecipientSet(id); err != nil {
			t.Fatal(err)
		}
		if err := f.st.PutRecipientSet(id, bad); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(f.st, f.newsroom.Public(), func() time.Time { return f.now }); err == nil {
		t.Fatal("keyring loaded a set whose signature no longer verifies")
	}
}

func TestCurrentEncryptsToTheSet(t *testing.T) {
	f := newFixture(t)
	k := f.keyring(t)
	raw, id := signedSet(t, f.newsroom, t0, t0.Add(time.Hour))
	if _, err := k.Install(raw); err != nil {
		t.Fatal(err)
	}
	s, err := k.Current()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, s.Recipients...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	w.Close()
	r, err := age.Decrypt(&buf, id)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.ReadFrom(r)
	if out.String() != "hello" {
		t.Errorf("decrypted %q", out.String())
	}
}
