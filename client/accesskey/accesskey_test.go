package accesskey

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	k, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Parse(k.String())
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Access.Public().Equal(k.Access.Public()) || !bytes.Equal(k2.OnionAuth.Bytes(), k.OnionAuth.Bytes()) {
		t.Fatal("parsed key differs")
	}
	p, err := ParsePublic(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Access.Equal(k.Access.Public()) || !bytes.Equal(p.OnionAuth[:], k.OnionAuth.PublicKey().Bytes()) {
		t.Fatal("parsed public halves differ")
	}
	if len(k.OnionAuthSecret()) != 52 {
		t.Fatalf("onion auth secret %d characters", len(k.OnionAuthSecret()))
	}
}

func TestRefusals(t *testing.T) {
	k, _ := Generate(rand.Reader)
	secret, public := k.String(), k.Public()
	secretLine := strings.Split(secret, "\n")[0]
	// A secret file given where the public lines belong is refused without
	// echoing the secret.
	_, err := ParsePublic(secret)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "SECRET key file") {
		t.Fatalf("secret as public: %v", err)
	}
	if strings.Contains(err.Error(), strings.TrimPrefix(secretLine, "access: ")) {
		t.Fatal("error echoes the secret")
	}
	if _, err := Parse(public); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "public key") {
		t.Fatalf("public as secret: %v", err)
	}
	lines := strings.SplitAfter(secret, "\n")
	for name, bad := range map[string]string{
		"empty":          "",
		"one line":       lines[0],
		"swapped":        lines[1] + lines[0],
		"extra line":     secret + "x\n",
		"short onion":    lines[0] + "onion-auth: AAAA\n",
		"bad base32":     lines[0] + "onion-auth: " + strings.Repeat("1", 52) + "\n",
		"no space":       strings.Replace(secret, "access: ", "access:", 1),
		"huge":           secret + strings.Repeat("#", MaxFile),
		"duplicate line": lines[0] + lines[0],
	} {
		_, err := Parse(bad)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse = %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "SANDYQ-ACCESS-SECRET") {
			t.Errorf("%s: error echoes a secret", name)
		}
	}
}
