package reqsign

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"sandyq/crypto/sign"
)

func testKey(t *testing.T, k sign.Kind, b byte) *sign.PrivateKey {
	t.Helper()
	key, err := sign.NewPrivateKey(bytes.Repeat([]byte{b}, 32), k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSignVerify(t *testing.T) {
	key := testKey(t, sign.Access, 2)
	req := Request{Method: "GET", Target: "/v1/bundle?after=12", Time: 1_790_000_000}
	h, err := Sign(key, req, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Key.Equal(key.Public()) || s.Time != req.Time {
		t.Fatalf("parsed %v %d", s.Key, s.Time)
	}
	if err := s.Verify("GET", "/v1/bundle?after=12", 0); err != nil {
		t.Fatal(err)
	}
	// Each field the signature covers, changed, must fail.
	for _, c := range []struct {
		name           string
		method, target string
		length         int64
	}{
		{"method", "POST", "/v1/bundle?after=12", 0},
		{"target", "GET", "/v1/bundle?after=0", 0},
		{"path", "GET", "/v1/ack?after=12", 0},
		{"length", "GET", "/v1/bundle?after=12", 1},
	} {
		if err := s.Verify(c.method, c.target, c.length); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed: Verify = %v, want ErrBadSignature", c.name, err)
		}
	}
	// The time and nonce are signed too.
	f := strings.Split(h, " ")
	for i, repl := range map[int]string{2: "1790000001", 3: strings.Repeat("0", 32)} {
		g := append([]string(nil), f...)
		g[i] = repl
		s2, err := Parse(strings.Join(g, " "))
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Verify("GET", "/v1/bundle?after=12", 0); !errors.Is(err, ErrBadSignature) {
			t.Errorf("field %d changed: Verify = %v", i, err)
		}
	}
	// Another key's signature does not pass as this key's.
	other := testKey(t, sign.Access, 3)
	h2, _ := Sign(other, req, rand.Reader)
	g := strings.Split(h2, " ")
	g[1] = f[1]
	s3, err := Parse(strings.Join(g, " "))
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Verify("GET", "/v1/bundle?after=12", 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("swapped key: Verify = %v", err)
	}
}

func TestNoncesDiffer(t *testing.T) {
	key := testKey(t, sign.Access, 2)
	req := Request{Method: "GET", Target: "/v1/bundle", Time: 5}
	a, _ := Sign(key, req, rand.Reader)
	b, _ := Sign(key, req, rand.Reader)
	if a == b {
		t.Fatal("two signatures share a nonce")
	}
}

func TestOnlyAccessKeysSign(t *testing.T) {
	for _, k := range []sign.Kind{sign.Newsroom, sign.Instance} {
		if _, err := Sign(testKey(t, k, 4), Request{Method: "GET", Target: "/", Time: 1}, rand.Reader); err == nil {
			t.Errorf("a %s key signed a request", k)
		}
	}
}

func TestParseStrict(t *testing.T) {
	key := testKey(t, sign.Access, 2)
	h, err := Sign(key, Request{Method: "POST", Target: "/v1/replies", Time: 1_790_000_000, Length: 99}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(h, " ")
	inst := testKey(t, sign.Instance, 2).Public().String()
	bad := map[string]string{
		"empty":            "",
		"v2":               strings.Join(append([]string{"v2"}, f[1:]...), " "),
		"double space":     strings.Replace(h, " ", "  ", 1),
		"trailing space":   h + " ",
		"six fields":       h + " x",
		"instance key":     strings.Join([]string{f[0], inst, f[2], f[3], f[4]}, " "),
		"secret key":       strings.Join([]string{f[0], key.String(), f[2], f[3], f[4]}, " "),
		"leading zero":     strings.Join([]string{f[0], f[1], "0" + f[2], f[3], f[4]}, " "),
		"plus sign":        strings.Join([]string{f[0], f[1], "+" + f[2], f[3], f[4]}, " "),
		"zero time":        strings.Join([]string{f[0], f[1], "0", f[3], f[4]}, " "),
		"upper nonce":      strings.Join([]string{f[0], f[1], f[2], strings.ToUpper(f[3]), f[4]}, " "),
		"short nonce":      strings.Join([]string{f[0], f[1], f[2], f[3][2:], f[4]}, " "),
		"padded sig":       h + "==",
		"std base64 sig":   strings.Join([]string{f[0], f[1], f[2], f[3], strings.NewReplacer("-", "+", "_", "/").Replace(f[4]) + "+"}, " "),
		"short sig":        strings.Join([]string{f[0], f[1], f[2], f[3], f[4][4:]}, " "),
		"too long":         h + strings.Repeat("A", MaxHeader),
		"newline in field": strings.Replace(h, " ", "\n", 1),
	}
	for name, v := range bad {
		if _, err := Parse(v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse = %v, want ErrMalformed", name, err)
		}
		if _, err := Parse(v); err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error echoes the header", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	// Deterministic: every fuzzing worker process rebuilds the same h.
	key, _ := sign.NewPrivateKey(bytes.Repeat([]byte{2}, 32), sign.Access)
	h, _ := Sign(key, Request{Method: "GET", Target: "/v1/bundle", Time: 1_790_000_000}, bytes.NewReader(make([]byte, NonceSize)))
	f.Add(h)
	f.Add("v1 x 1 00 AA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		// Accepted ⇒ it re-encodes to the same text: one encoding per value.
		if p.Verify("GET", "/v1/bundle", 0) == nil && s != h {
			t.Fatalf("a header other than the signed one verified: %q", s)
		}
	})
}
