package recipients

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/internal/bech32"
	"sandyq/crypto/internal/testvec"
	"sandyq/crypto/sign"
)

var update = flag.Bool("update", false, "rewrite crypto/testdata/recipient-set.txt")

func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// Deterministic test keys, built through the age secret key encodings.
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

func pq(t testing.TB, b byte) string     { return pqIdentity(t, b).Recipient().String() }
func x25519(t testing.TB, b byte) string { return x25519Identity(t, b).Recipient().String() }

func newsroomKey(t testing.TB, b byte) *sign.PrivateKey {
	k, err := sign.NewPrivateKey(seed(b), sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestParseRecipient(t *testing.T) {
	p, x := pq(t, 1), x25519(t, 1)
	for _, tc := range []struct {
		in   string
		kind Kind
		want string
	}{
		{p, PQ, p}, {" " + p + "\n", PQ, p}, {strings.ToUpper(p), PQ, p},
		{x, X25519, x}, {strings.ToUpper(x), X25519, x},
	} {
		r, k, err := ParseRecipient(tc.in)
		if err != nil || k != tc.kind {
			t.Fatalf("ParseRecipient: %v %v", k, err)
		}
		if c, _, _ := Canonical(tc.in); c != tc.want || r.(fmt.Stringer).String() != tc.want {
			t.Fatalf("canonical form %q", c)
		}
	}
}

func TestSecretKeyRefused(t *testing.T) {
	secrets := []string{
		pqIdentity(t, 1).String(),
		x25519Identity(t, 1).String(),
		strings.ToLower(pqIdentity(t, 1).String()),
		"  " + x25519Identity(t, 2).String(),
		newsroomKey(t, 1).String(),
		"AGE-PLUGIN-YUBIKEY-1QQQQQQ",
	}
	for _, s := range secrets {
		_, _, err := ParseRecipient(s)
		if !errors.Is(err, ErrSecretKey) {
			t.Fatalf("secret key: %v", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "secret key") || !strings.Contains(msg, "must not be shared") {
			t.Errorf("message does not say it is a secret: %q", msg)
		}
		body := strings.ToUpper(strings.TrimSpace(s))
		if strings.Contains(strings.ToUpper(msg), body[len(body)-10:]) {
			t.Errorf("error echoes the secret")
		}
		_, err = NewSet(testRand(1), []string{pq(t, 1), s}, t0, t1)
		if !errors.Is(err, ErrSecretKey) || strings.Contains(strings.ToUpper(err.Error()), body[len(body)-10:]) {
			t.Errorf("NewSet with a secret: %v", err)
		}
	}
}

func TestBadRecipients(t *testing.T) {
	p := pq(t, 1)
	news := newsroomKey(t, 1).Public().String()
	for _, s := range []string{
		"", "   ", "hello", p[:len(p)-1] + "q", p[:40], "age1yubikey1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq2mwz3p",
		news, strings.Repeat("a", maxRecipientLen+1),
		"age1pq1" + strings.ToUpper(p[7:]), // mixed case
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
	} {
		_, _, err := ParseRecipient(s)
		if !errors.Is(err, ErrBadRecipient) {
			t.Errorf("ParseRecipient(%.20q…): %v", s, err)
			continue
		}
		if len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Errorf("error echoes input: %v", err)
		}
	}
}

func TestNewSet(t *testing.T) {
	s, err := NewSet(testRand(1), []string{pq(t, 1), strings.ToUpper(pq(t, 2))}, t0.Add(500*time.Millisecond), t1.In(time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != PQ || s.Recipients[1] != pq(t, 2) || !s.NotBefore.Equal(t0) || s.NotAfter.Location() != time.UTC {
		t.Fatalf("unexpected set %+v", s)
	}
	s2, _ := NewSet(testRand(1), []string{pq(t, 1)}, t0, t1)
	if s2.ID != s.ID || s2.IDString() == "" || len(s2.IDString()) != 32 {
		t.Fatal("set ID is not read from the reader")
	}
	if as, err := s.AgeRecipients(); err != nil || len(as) != 2 {
		t.Fatal(err)
	}
	many := make([]string, MaxRecipients+1)
	for i := range many {
		many[i] = x25519(t, byte(i))
	}
	if _, err := NewSet(testRand(1), many[:MaxRecipients], t0, t1); err != nil {
		t.Fatalf("%d recipients: %v", MaxRecipients, err)
	}
	for _, tc := range []struct {
		rs     []string
		nb, na time.Time
		want   error
	}{
		{nil, t0, t1, ErrEmptySet},
		{[]string{}, t0, t1, ErrEmptySet},
		{[]string{pq(t, 1), x25519(t, 1)}, t0, t1, ErrMixedKinds},
		{[]string{x25519(t, 1), pq(t, 1)}, t0, t1, ErrMixedKinds},
		{[]string{pq(t, 1), pq(t, 2), pq(t, 1)}, t0, t1, ErrDuplicate},
		{[]string{pq(t, 1), strings.ToUpper(pq(t, 1))}, t0, t1, ErrDuplicate},
		{many, t0, t1, ErrTooMany},
		{[]string{pq(t, 1)}, t1, t0, ErrBadWindow},
		{[]string{pq(t, 1)}, t0, t0, ErrBadWindow},
		{[]string{pq(t, 1)}, time.Time{}, t0, ErrBadWindow},
		{[]string{pq(t, 1)}, t0, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ErrBadWindow},
	} {
		if _, err := NewSet(testRand(1), tc.rs, tc.nb, tc.na); !errors.Is(err, tc.want) {
			t.Errorf("NewSet: %v, want %v", err, tc.want)
		}
	}
}

func TestTime(t *testing.T) {
	s, _ := NewSet(testRand(1), []string{pq(t, 1)}, t0, t1)
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{t0.Add(-time.Second), ErrNotYetValid}, {t0, nil}, {t1.Add(-time.Second), nil}, {t1, ErrExpired},
	} {
		if err := s.CheckTime(tc.at); !errors.Is(err, tc.want) || (err == nil) != s.ValidAt(tc.at) {
			t.Errorf("CheckTime(%v) = %v", tc.at, err)
		}
	}
}

func signedSet(t testing.TB, k *sign.PrivateKey, rs ...string) []byte {
	s, err := NewSet(testRand(9), rs, t0, t1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSignParse(t *testing.T) {
	k := newsroomKey(t, 1)
	data := signedSet(t, k, pq(t, 1), pq(t, 2))
	got, err := Parse(data, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, data) || got.Signer != k.Public().Fingerprint() || got.Kind != PQ ||
		len(got.Recipients) != 2 || !got.NotBefore.Equal(t0) || !got.NotAfter.Equal(t1) {
		t.Fatalf("unexpected %+v", got.Set)
	}
	again, _ := got.Set.Sign(k)
	if !bytes.Equal(again, data) {
		t.Fatal("re-signing a parsed set is not byte-identical")
	}
	other := newsroomKey(t, 2)
	if _, err := Parse(data, other.Public()); !errors.Is(err, ErrWrongSigner) {
		t.Fatalf("other newsroom key: %v", err)
	}
	// A statement that names the pinned key but is signed by another.
	s, _ := NewSet(testRand(9), []string{pq(t, 1)}, t0, t1)
	body := s.body(k.Public())
	forged := appendSignature(body, other.Sign(Context, body))
	if _, err := Parse(forged, k.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
	// A signature made in another context.
	wrongCtx := appendSignature(body, k.Sign("bundle", body))
	if _, err := Parse(wrongCtx, k.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong context: %v", err)
	}
	acc, _ := sign.NewPrivateKey(seed(1), sign.Access)
	if _, err := s.Sign(acc); err == nil {
		t.Fatal("signed with an access key")
	}
}

func TestFlipEveryByte(t *testing.T) {
	k := newsroomKey(t, 1)
	data := signedSet(t, k, pq(t, 1), pq(t, 2))
	for i := range data {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			if _, err := Parse(bad, k.Public()); err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, x)
			}
		}
	}
	for n := range len(data) {
		if _, err := Parse(data[:n], k.Public()); err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
	}
	if _, err := Parse(append(bytes.Clone(data), "x\n"...), k.Public()); err == nil {
		t.Fatal("trailing line accepted")
	}
}

// Strictness of the body: statements that are validly signed but break a
// rule of the format.
func TestStrict(t *testing.T) {
	k := newsroomKey(t, 1)
	good := string(signedSet(t, k, pq(t, 1), pq(t, 2)))
	body := good[:strings.LastIndex(good[:len(good)-1], "\n")+1]
	lines := strings.SplitAfter(body, "\n")
	lines = lines[:len(lines)-1]
	resign := func(b string) []byte { return appendSignature([]byte(b), k.Sign(Context, []byte(b))) }
	join := func(ls ...string) string { return strings.Join(ls, "") }
	signer := lines[len(lines)-1]
	id, kind, nb, na, r1, r2 := lines[1], lines[2], lines[3], lines[4], lines[5], lines[6]
	tests := []struct {
		name string
		body string
		want error
		line string
	}{
		{"ok", body, nil, ""},
		{"version", join("sandyq recipient set v2\n", id, kind, nb, na, r1, signer), ErrMalformed, "line 1"},
		{"first line", join("hello\n", id, kind, nb, na, r1, signer), ErrMalformed, "line 1"},
		{"unknown field", join(lines[0], id, "comment: hi\n", kind, nb, na, r1, signer), ErrMalformed, "line 3"},
		{"duplicate id", join(lines[0], id, id, kind, nb, na, r1, signer), ErrMalformed, "line 3"},
		{"order", join(lines[0], kind, id, nb, na, r1, signer), ErrMalformed, "line 2"},
		{"blank line", join(lines[0], id, kind, nb, na, "\n", r1, signer), ErrMalformed, "line 6"},
		{"duplicate recipient", join(lines[0], id, kind, nb, na, r1, r2, r1, signer), ErrDuplicate, "line 8"},
		{"no recipients", join(lines[0], id, kind, nb, na, signer), ErrEmptySet, "line 6"},
		{"upper-case id", join(lines[0], strings.ToUpper(id[:4])+id[4:], kind, nb, na, r1, signer), ErrMalformed, "line 2"},
		{"upper-case id hex", join(lines[0], "id: "+strings.ToUpper(id[4:]), kind, nb, na, r1, signer), ErrMalformed, "line 2"},
		{"kind", join(lines[0], id, "kind: x25519\n", nb, na, r1, signer), ErrMixedKinds, "line 6"},
		{"bad kind", join(lines[0], id, "kind: PQ\n", nb, na, r1, signer), ErrMalformed, "line 3"},
		{"time format", join(lines[0], id, kind, "not-before: 2025-01-01T00:00:00+00:00\n", na, r1, signer), ErrMalformed, "line 4"},
		{"fraction", join(lines[0], id, kind, "not-before: 2025-01-01T00:00:00.5Z\n", na, r1, signer), ErrMalformed, "line 4"},
		{"window", join(lines[0], id, kind, "not-before: 2027-01-01T00:00:00Z\n", na, r1, signer), ErrBadWindow, "line 5"},
		{"upper-case recipient", join(lines[0], id, kind, nb, na, "recipient: "+strings.ToUpper(pq(t, 1))+"\n", signer), ErrMalformed, "line 6"},
		{"secret recipient", join(lines[0], id, kind, nb, na, "recipient: "+pqIdentity(t, 1).String()+"\n", signer), ErrSecretKey, "line 6"},
		{"space", join(lines[0], id, kind, nb, na, "recipient:  "+pq(t, 1)+"\n", signer), ErrMalformed, "line 6"},
		{"trailing space", join(lines[0], id+" ", kind, nb, na, r1, signer), ErrMalformed, ""},
		{"line after signer", join(lines[0], id, kind, nb, na, r1, signer, "x\n"), ErrMalformed, ""},
	}
	for _, tc := range tests {
		_, err := Parse(resign(tc.body), k.Public())
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		} else if !strings.Contains(err.Error(), tc.line) {
			t.Errorf("%s: %v does not say %q", tc.name, err, tc.line)
		}
	}
	// Rejected before the signature is looked at.
	for name, data := range map[string]string{
		"CR":         strings.Replace(good, "\n", "\r\n", 1),
		"UTF-8":      strings.Replace(good, "kind", "k\xffnd", 1),
		"no newline": strings.TrimSuffix(good, "\n"),
		"empty":      "",
		"only sig":   good[len(body):],
	} {
		if _, err := Parse([]byte(data), k.Public()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTooLarge(t *testing.T) {
	k := newsroomKey(t, 1)
	rs := make([]string, MaxRecipients)
	for i := range rs {
		rs[i] = pq(t, byte(i))
	}
	data := signedSet(t, k, rs...)
	if _, err := Parse(data, k.Public()); err != nil {
		t.Fatalf("%d hybrid recipients (%d bytes): %v", MaxRecipients, len(data), err)
	}
	big := append(bytes.Repeat([]byte("x"), MaxSize-len(data)+1), data...)
	if _, err := Parse(big, k.Public()); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("over MaxSize: %v", err)
	}
	r := &countingReader{}
	if _, err := ReadSigned(r, k.Public()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadSigned: %v", err)
	}
	if r.n > MaxSize+1 {
		t.Fatalf("ReadSigned read %d bytes", r.n)
	}
	if got, err := ReadSigned(bytes.NewReader(data), k.Public()); err != nil || len(got.Recipients) != MaxRecipients {
		t.Fatal(err)
	}
}

// countingReader is an endless reader that counts what was read.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += len(p)
	return len(p), nil
}

// TestVectors checks crypto/testdata/recipient-set.txt (-update rewrites it).
func TestVectors(t *testing.T) {
	const path = "../testdata/recipient-set.txt"
	if *update {
		var recs []*testvec.Record
		for i, rs := range [][]string{
			{pq(t, 1), pq(t, 2)},
			{x25519(t, 1)},
		} {
			k := newsroomKey(t, byte(0x10+i))
			s, err := NewSet(testRand(byte(i)), rs, t0, t1)
			if err != nil {
				t.Fatal(err)
			}
			data, err := s.Sign(k)
			if err != nil {
				t.Fatal(err)
			}
			r := &testvec.Record{}
			r.Add("newsroom-secret-key", k.String())
			r.Add("newsroom-public-key", k.Public().String())
			r.Add("newsroom-fingerprint", k.Public().Fingerprint())
			r.Add("signed-set", string(data))
			recs = append(recs, r)
		}
		comment := []string{
			"sandyq test vectors: signed recipient sets (crypto/recipients, docs/format.md \"Recipient sets\").",
			"",
			"signed-set is the exact statement, between \"signed-set: <<END\" and \"END\" (each line ends in \\n).",
			"It verifies with newsroom-public-key; signing its body again with newsroom-secret-key (TEST ONLY)",
			"gives the same bytes (Ed25519 is deterministic). The signature is Ed25519 over",
			"\"sandyq-sig-v1\" || 0x0d || \"recipient-set\" || <every line before the signature line>.",
		}
		if err := os.WriteFile(path, testvec.Format(comment, recs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := testvec.Parse(data)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for i, r := range recs {
		k, err := sign.ParsePrivateKey(r.Get("newsroom-secret-key"), sign.Newsroom)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := sign.ParsePublicKey(r.Get("newsroom-public-key"), sign.Newsroom)
		if err != nil || !pub.Equal(k.Public()) || pub.Fingerprint() != r.Get("newsroom-fingerprint") {
			t.Fatalf("record %d: keys disagree (%v)", i, err)
		}
		set := []byte(r.Get("signed-set"))
		got, err := Parse(set, pub)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		again, err := got.Set.Sign(k)
		if err != nil || !bytes.Equal(again, set) {
			t.Fatalf("record %d: re-signing differs (%v)", i, err)
		}
	}
}

// parseUnverified parses a statement without checking who signed it.
func parseUnverified(data []byte) (*Set, string, []byte, error) {
	body, sig, err := split(data)
	if err != nil {
		return nil, "", nil, err
	}
	s, signer, err := parseBody(body)
	return s, signer, sig, err
}

func FuzzParse(f *testing.F) {
	k := newsroomKey(f, 1)
	f.Add(signedSet(f, k, pq(f, 1), pq(f, 2)))
	f.Add(signedSet(f, k, x25519(f, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, signer, sig, err := parseUnverified(data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed set does not validate: %v", err)
		}
		pk, err := sign.ParsePublicKey(signer, sign.Newsroom)
		if err != nil {
			t.Fatal(err)
		}
		if out := appendSignature(s.body(pk), sig); !bytes.Equal(out, data) {
			t.Fatalf("parse → marshal differs:\n%q\n%q", out, data)
		}
		if _, err := Parse(data, pk); err != nil && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Parse disagrees with parseUnverified: %v", err)
		}
	})
}
