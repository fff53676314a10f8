package backup

import (
	"bytes"
	"crypto/ecdh"
	"crypto/subtle"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"sandyq/crypto/sign"
	"sandyq/server/datadir"
	"sandyq/server/onion"
)

// keys is what the small files of a backup say, once checked.
type keys struct {
	instance string  // instance public key
	newsroom string  // pinned newsroom public key, "" if none
	onions   []Onion // by name
}

// checkKeys checks the small files of a backup (by archive name) on their
// own: the pepper's size, that the instance key and the newsroom key parse,
// and for every onion service that both key files are there, have tor's
// headers, belong together, and that hostname (if present) holds the
// address. Write runs it before writing anything, Restore and Inspect after
// reading everything, so a backup Write makes is one Restore accepts.
// No error repeats a byte of a key.
func checkKeys(small map[string][]byte) (*keys, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	var k keys
	if p, ok := small[datadir.PepperFile]; !ok {
		return nil, bad("the pepper is missing")
	} else if len(p) != datadir.PepperSize {
		return nil, bad("the pepper has %d bytes, want %d", len(p), datadir.PepperSize)
	}
	inst, ok := small[datadir.InstanceKeyFile]
	if !ok {
		return nil, bad("the instance key is missing")
	}
	priv, err := sign.ParsePrivateKey(string(bytes.TrimSpace(inst)), sign.Instance)
	if err != nil {
		return nil, bad("%s does not hold an instance secret key", datadir.InstanceKeyFile)
	}
	k.instance = priv.Public().String()
	if nr, ok := small[datadir.NewsroomKeyFile]; ok {
		pub, err := sign.ParsePublicKey(string(bytes.TrimSpace(nr)), sign.Newsroom)
		if err != nil {
			return nil, bad("%s does not hold a newsroom public key", datadir.NewsroomKeyFile)
		}
		k.newsroom = pub.String()
	}
	var services []string
	for name := range small {
		if s, ok := parseName(name); ok && s.kind == kindOnion && !slices.Contains(services, s.service) {
			services = append(services, s.service)
		}
	}
	slices.Sort(services)
	if len(services) > MaxServices {
		return nil, bad("more than %d onion services", MaxServices)
	}
	for _, svc := range services {
		addr, err := checkOnion(svc, small)
		if err != nil {
			return nil, err
		}
		k.onions = append(k.onions, Onion{Name: svc, Addr: addr})
	}
	return &k, nil
}

// checkOnion checks the key files of one onion service and returns its
// address.
func checkOnion(svc string, small map[string][]byte) (string, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: onion service %q: %s", ErrMalformed, svc, fmt.Sprintf(format, a...))
	}
	sec, ok := small[onionPath(svc, onionSecretFile)]
	if !ok {
		return "", bad("%s is missing", onionSecretFile)
	}
	pub, ok := small[onionPath(svc, onionPublicFile)]
	if !ok {
		return "", bad("%s is missing", onionPublicFile)
	}
	if len(sec) != onionSecretSize || !strings.HasPrefix(string(sec), onionSecretHeader) {
		return "", bad("%s is not a tor v3 secret key", onionSecretFile)
	}
	if len(pub) != onionPublicSize || !strings.HasPrefix(string(pub), onionPublicHeader) {
		return "", bad("%s is not a tor v3 public key", onionPublicFile)
	}
	pubKey := pub[len(onionPublicHeader):]
	if !keysMatch(sec[len(onionSecretHeader):], pubKey) {
		return "", bad("the secret and public keys do not belong together")
	}
	addr := onion.Address(pubKey)
	if h, ok := small[onionPath(svc, onionHostnameFile)]; ok && string(h) != addr+"\n" {
		return "", bad("%s does not hold the address of the key", onionHostnameFile)
	}
	return addr, nil
}

// p25519 is the field prime of Curve25519, 2^255 - 19.
var p25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// keysMatch reports whether the expanded Ed25519 secret key tor stores
// (clamped scalar a ‖ 32-byte prefix) belongs to the public key pub = a·B.
// It compares Montgomery u-coordinates: X25519(a, 9) — constant time, by
// crypto/ecdh — against u = (1+y)/(1−y) of pub's y (public data). The
// u-coordinate does not carry the sign of x, so a public key whose sign
// bit was flipped would still match; its address would then differ from
// the one tor derives from the secret key. Only someone holding the secret
// key can make such a pair, and it gains them nothing.
func keysMatch(expanded, pub []byte) bool {
	priv, err := ecdh.X25519().NewPrivateKey(expanded[:32]) // X25519 clamps; a is clamped already
	if err != nil {
		return false
	}
	le := bytes.Clone(pub)
	le[31] &= 0x7f // drop the sign bit of x
	slices.Reverse(le)
	y := new(big.Int).SetBytes(le)
	if y.Cmp(p25519) >= 0 {
		return false
	}
	num := new(big.Int).Add(big.NewInt(1), y)
	den := new(big.Int).Sub(big.NewInt(1), y)
	den.Mod(den, p25519)
	if den.Sign() == 0 {
		return false
	}
	u := num.Mul(num, den.ModInverse(den, p25519))
	u.Mod(u, p25519)
	want := u.FillBytes(make([]byte, 32))
	slices.Reverse(want)
	return subtle.ConstantTimeCompare(priv.PublicKey().Bytes(), want) == 1
}
