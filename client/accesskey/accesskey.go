// Package accesskey reads and writes a journalist's access key file
// (docs/format.md, "Key files"): the Ed25519 access key that signs
// journalist API requests and the x25519 onion client-authorization key
// without which tor cannot find the journalist onion. The offline client
// makes the file; `sandyq fetch` and `sandyq push` read it on the online
// workstation; `sandyq admin journalist add` reads the public halves.
//
// The package imports no networking code.
package accesskey

import (
	"bufio"
	"crypto/ecdh"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"

	"sandyq/crypto/sign"
)

// onionB32 is tor's encoding of v3 client authorization keys: RFC 4648
// base32, upper case, no padding (52 characters for 32 bytes).
var onionB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// MaxFile caps what is read of a key file.
const MaxFile = 1024

// ErrMalformed is returned for a file that does not follow the format; it
// never contains the file's contents.
var ErrMalformed = errors.New("malformed access key file")

// Key is the content of an access key file. It is a secret.
type Key struct {
	Access    *sign.PrivateKey
	OnionAuth *ecdh.PrivateKey
}

// Generate makes a new key from rand.
func Generate(rand io.Reader) (*Key, error) {
	a, err := sign.Generate(rand, sign.Access)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, 32)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, err
	}
	o, err := ecdh.X25519().NewPrivateKey(seed)
	if err != nil {
		return nil, err
	}
	return &Key{Access: a, OnionAuth: o}, nil
}

// String returns the file's contents: "access: SANDYQ-ACCESS-SECRET-KEY-1…"
// and "onion-auth: <52 base32>", one line each.
func (k *Key) String() string {
	return "access: " + k.Access.String() + "\n" +
		"onion-auth: " + onionB32.EncodeToString(k.OnionAuth.Bytes()) + "\n"
}

// OnionAuthSecret is the onion client-authorization private key in tor's
// encoding, for a ClientOnionAuthDir file.
func (k *Key) OnionAuthSecret() string { return onionB32.EncodeToString(k.OnionAuth.Bytes()) }

// Public returns the public halves, in the same two-line format, for the
// admin.
func (k *Key) Public() string {
	return "access: " + k.Access.Public().String() + "\n" +
		"onion-auth: " + onionB32.EncodeToString(k.OnionAuth.PublicKey().Bytes()) + "\n"
}

// twoLines splits data into the values of exactly the lines "access: …"
// and "onion-auth: …", in that order.
func twoLines(data string) ([2]string, error) {
	var vals [2]string
	if len(data) > MaxFile {
		return vals, fmt.Errorf("%w: over %d bytes", ErrMalformed, MaxFile)
	}
	sc := bufio.NewScanner(strings.NewReader(data))
	for i, want := range []string{"access: ", "onion-auth: "} {
		if !sc.Scan() {
			return vals, fmt.Errorf("%w: missing line %d", ErrMalformed, i+1)
		}
		v, ok := strings.CutPrefix(sc.Text(), want)
		if !ok {
			return vals, fmt.Errorf("%w: error at line %d", ErrMalformed, i+1)
		}
		vals[i] = v
	}
	if sc.Scan() || sc.Err() != nil {
		return vals, fmt.Errorf("%w: extra data after line 2", ErrMalformed)
	}
	return vals, nil
}

func decodeOnion(s string) ([]byte, error) {
	b, err := onionB32.DecodeString(strings.ToUpper(s))
	if err != nil || len(s) != 52 || len(b) != 32 {
		return nil, errors.New("not a base32 x25519 key")
	}
	return b, nil
}

// Parse parses an access key file.
func Parse(data string) (*Key, error) {
	vals, err := twoLines(data)
	if err != nil {
		return nil, err
	}
	a, err := sign.ParsePrivateKey(vals[0], sign.Access)
	if err != nil {
		if strings.HasPrefix(vals[0], "sandyq-access1") {
			return nil, fmt.Errorf("%w: line 1 is a public key: give the secret key file made by \"sandyq-client access-key\"", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: line 1: %w", ErrMalformed, err)
	}
	b, err := decodeOnion(vals[1])
	if err != nil {
		return nil, fmt.Errorf("%w: line 2: %w", ErrMalformed, err)
	}
	defer clear(b)
	o, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: line 2: not an x25519 key", ErrMalformed)
	}
	return &Key{Access: a, OnionAuth: o}, nil
}

// Public is the public halves of an access key, as the admin registers
// them.
type Public struct {
	Access    *sign.PublicKey
	OnionAuth [32]byte // x25519 public key
}

// ParsePublic parses the two public lines that "sandyq-client access-key"
// prints. A secret key file is refused, without echoing it.
func ParsePublic(data string) (*Public, error) {
	vals, err := twoLines(data)
	if err != nil {
		return nil, err
	}
	if sign.LooksSecret(vals[0]) {
		return nil, fmt.Errorf("%w: this is the journalist's SECRET key file; give the public lines it printed (access: sandyq-access1…)", ErrMalformed)
	}
	a, err := sign.ParsePublicKey(vals[0], sign.Access)
	if err != nil {
		return nil, fmt.Errorf("%w: line 1: %w", ErrMalformed, err)
	}
	b, err := decodeOnion(vals[1])
	if err != nil {
		return nil, fmt.Errorf("%w: line 2: %w", ErrMalformed, err)
	}
	return &Public{Access: a, OnionAuth: [32]byte(b)}, nil
}
