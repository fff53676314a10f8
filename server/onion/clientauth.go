package onion

import (
	"crypto/ecdh"
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

// b32 is the encoding tor uses for v3 client authorization keys: RFC 4648
// base32 without padding (tor accepts either case; we write upper case).
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ClientKey is a journalist's v3 client authorization public key (x25519).
// The service publishes its descriptor so that only holders of the
// matching private keys can read it.
type ClientKey [32]byte

// String returns the key in tor's form: 52 characters of base32.
func (k ClientKey) String() string { return b32.EncodeToString(k[:]) }

// ParseClientKey parses a client key as written by [ClientKey.String], or
// as a line of tor's authorized_clients files ("descriptor:x25519:KEY").
// It returns [ErrBadClientKey] for anything else; the error does not echo
// the input.
func ParseClientKey(s string) (ClientKey, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "descriptor:x25519:")
	var k ClientKey
	if len(s) != 52 {
		return k, ErrBadClientKey
	}
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil || len(b) != 32 {
		return k, ErrBadClientKey
	}
	copy(k[:], b)
	return k, nil
}

// ClientIdentity is the private half of a [ClientKey], held by a journalist's
// tor.
type ClientIdentity struct {
	priv *ecdh.PrivateKey
}

// GenerateClientIdentity makes a new x25519 client authorization key pair
// from rand (crypto/rand.Reader in production).
func GenerateClientIdentity(rand io.Reader) (*ClientIdentity, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("onion: generating client key: %w", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("onion: generating client key: %w", err)
	}
	return &ClientIdentity{priv: priv}, nil
}

// Public returns the key to give the service ([Service.SetClientAuth]).
func (id *ClientIdentity) Public() ClientKey {
	var k ClientKey
	copy(k[:], id.priv.PublicKey().Bytes())
	return k
}

// AuthFileLine returns the line a client's tor reads from a file
// "NAME.auth_private" in its ClientOnionAuthDir to reach the service at
// onionAddr ("xyz….onion" or without the suffix):
// "<address>:descriptor:x25519:<base32 private key>". It is a secret.
func (id *ClientIdentity) AuthFileLine(onionAddr string) string {
	host := strings.TrimSuffix(strings.ToLower(onionAddr), ".onion")
	return host + ":descriptor:x25519:" + b32.EncodeToString(id.priv.Bytes())
}
