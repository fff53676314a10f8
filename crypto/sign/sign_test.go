package sign

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func TestEncodingRoundTrip(t *testing.T) {
	for _, k := range []Kind{Newsroom, Access, Instance} {
		priv, err := Generate(testRand(1), k)
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.Public()
		ps, ss := pub.String(), priv.String()
		if !strings.HasPrefix(ps, "sandyq-"+string(k)+"1") || ps != strings.ToLower(ps) {
			t.Errorf("public key string %q", ps)
		}
		if want := "SANDYQ-" + strings.ToUpper(string(k)) + "-SECRET-KEY-1"; !strings.HasPrefix(ss, want) || ss != strings.ToUpper(ss) {
			t.Errorf("secret key string does not start with %q", want)
		}
		pub2, err := ParsePublicKey(" "+ps+"\n", k)
		if err != nil || !pub2.Equal(pub) || pub2.String() != ps {
			t.Fatalf("ParsePublicKey round trip: %v", err)
		}
		priv2, err := ParsePrivateKey(ss, k)
		if err != nil || !bytes.Equal(priv2.Seed(), priv.Seed()) || priv2.Kind() != k {
			t.Fatalf("ParsePrivateKey round trip: %v", err)
		}
		if len(pub.Fingerprint()) != 16 {
			t.Errorf("fingerprint %q", pub.Fingerprint())
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, _ := Generate(testRand(7), Newsroom)
	b, _ := Generate(testRand(7), Newsroom)
	c, _ := Generate(testRand(8), Newsroom)
	if !a.Public().Equal(b.Public()) || a.Public().Equal(c.Public()) {
		t.Fatal("Generate is not a function of its reader")
	}
	if _, err := Generate(bytes.NewReader(make([]byte, 31)), Newsroom); err == nil {
		t.Fatal("Generate with a short reader succeeded")
	}
	if _, err := Generate(testRand(1), "bogus"); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestSecretKeyRefused(t *testing.T) {
	priv, _ := Generate(testRand(2), Newsroom)
	for _, s := range []string{
		priv.String(),
		strings.ToLower(priv.String()),
		"  " + priv.String(),
		"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
		"AGE-SECRET-KEY-PQ-1QQQQ",
	} {
		_, err := ParsePublicKey(s, Newsroom)
		if !errors.Is(err, ErrSecretKey) {
			t.Fatalf("secret key as public key: %v", err)
		}
		if !strings.Contains(err.Error(), "secret key") || !strings.Contains(err.Error(), "must not be shared") {
			t.Errorf("message does not say what is wrong: %v", err)
		}
		if strings.Contains(strings.ToUpper(err.Error()), strings.ToUpper(strings.TrimSpace(s))[10:]) {
			t.Errorf("error echoes the secret")
		}
	}
}

func TestParseErrors(t *testing.T) {
	news, _ := Generate(testRand(3), Newsroom)
	acc, _ := Generate(testRand(3), Access)
	tests := []struct {
		s    string
		want error
	}{
		{acc.Public().String(), ErrWrongKind},
		{"", ErrMalformedKey},
		{"sandyq-newsroom1", ErrMalformedKey},
		{strings.ToUpper(news.Public().String()), ErrMalformedKey},
		{news.Public().String()[:len(news.Public().String())-1] + "q", ErrMalformedKey},
		{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", ErrMalformedKey},
	}
	for _, tc := range tests {
		_, err := ParsePublicKey(tc.s, Newsroom)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParsePublicKey(%q): %v, want %v", tc.s, err, tc.want)
		}
		if tc.s != "" && err != nil && strings.Contains(err.Error(), tc.s) {
			t.Errorf("error echoes input: %v", err)
		}
	}
	if _, err := ParsePrivateKey(acc.String(), Newsroom); !errors.Is(err, ErrWrongKind) {
		t.Errorf("access secret as newsroom secret: %v", err)
	}
	if _, err := ParsePrivateKey(strings.ToLower(news.String()), Newsroom); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("lower-case secret: %v", err)
	}
	// A key with the right HRP but the wrong length.
	short, _ := NewPublicKey(make([]byte, 31), Newsroom)
	if short != nil {
		t.Error("NewPublicKey accepted 31 bytes")
	}
}

func TestSignVerify(t *testing.T) {
	k, _ := Generate(testRand(4), Newsroom)
	p := k.Public()
	msg := []byte("hello")
	sig := k.Sign("recipient-set", msg)
	if !p.Verify("recipient-set", msg, sig) {
		t.Fatal("valid signature refused")
	}
	if p.Verify("bundle", msg, sig) {
		t.Error("signature accepted in another context")
	}
	if p.Verify("recipient-set", []byte("hellO"), sig) {
		t.Error("signature accepted for another message")
	}
	// Length prefix: context "ab" + msg "cX" must differ from context "abc" + msg "X".
	s2 := k.Sign("ab", []byte("cX"))
	if p.Verify("abc", []byte("X"), s2) {
		t.Error("context/message boundary is ambiguous")
	}
	for i := range sig {
		bad := bytes.Clone(sig)
		bad[i] ^= 0x01
		if p.Verify("recipient-set", msg, bad) {
			t.Errorf("flipped signature byte %d accepted", i)
		}
	}
	other, _ := Generate(testRand(5), Newsroom)
	if other.Public().Verify("recipient-set", msg, sig) {
		t.Error("signature accepted by another key")
	}
	if p.Verify("", msg, sig) || p.Verify("recipient-set", msg, sig[:63]) {
		t.Error("invalid context or short signature accepted")
	}
}

func TestSignPanicsOnBadContext(t *testing.T) {
	k, _ := Generate(testRand(4), Newsroom)
	for _, c := range []string{"", "has space", strings.Repeat("x", MaxContext+1), "é"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Sign(%q) did not panic", c)
				}
			}()
			k.Sign(c, nil)
		}()
	}
}
