package onion

import (
	"crypto/ed25519"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Tor's on-disk key files for a v3 onion service (rend-spec-v3, and tor's
// own hs_ed25519_* files): a 32-byte tagged header, then the key.
const (
	secretKeyFile   = "hs_ed25519_secret_key"
	publicKeyFile   = "hs_ed25519_public_key"
	hostnameFile    = "hostname"
	secretKeyHeader = "== ed25519v1-secret: type0 ==\x00\x00\x00"
	publicKeyHeader = "== ed25519v1-public: type0 ==\x00\x00\x00"
)

// GenerateKey makes the key of the named service in dataDir (the same
// directory as Config.DataDir) before tor ever runs, so that "sandyq init"
// can print the address the service will have. The seed comes from rand.
// It refuses to replace an existing key. It returns the address, "….onion".
func GenerateKey(dataDir, name string, rand io.Reader) (string, error) {
	if !validName(name) {
		return "", ErrBadName
	}
	dir := filepath.Join(dataDir, "services", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("onion: creating service directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretKeyFile)); err == nil {
		return "", fmt.Errorf("onion: service %q already has a key", name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("onion: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return "", fmt.Errorf("onion: generating key: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	// Tor stores the expanded secret key: SHA-512 of the seed, the first
	// half clamped as in Ed25519.
	expanded := sha512.Sum512(seed)
	expanded[0] &= 248
	expanded[31] &= 127
	expanded[31] |= 64
	addr := Address(pub)
	files := []struct {
		name string
		data []byte
	}{
		{secretKeyFile, append([]byte(secretKeyHeader), expanded[:]...)},
		{publicKeyFile, append([]byte(publicKeyHeader), pub...)},
		{hostnameFile, []byte(addr + "\n")},
	}
	for _, f := range files {
		if err := writeExcl(filepath.Join(dir, f.name), f.data); err != nil {
			return "", err
		}
	}
	return addr, nil
}

// KeyAddress returns the address of the named service from its public key
// file, or an error wrapping fs.ErrNotExist when it has no key yet.
func KeyAddress(dataDir, name string) (string, error) {
	if !validName(name) {
		return "", ErrBadName
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "services", name, publicKeyFile))
	if err != nil {
		return "", fmt.Errorf("onion: reading the key of service %q: %w", name, err)
	}
	if len(b) != len(publicKeyHeader)+ed25519.PublicKeySize || !strings.HasPrefix(string(b), publicKeyHeader) {
		return "", fmt.Errorf("onion: the public key of service %q is malformed", name)
	}
	return Address(b[len(publicKeyHeader):]), nil
}

// Address returns the v3 onion address ("….onion") of an ed25519 public
// key (rend-spec-v3: base32(PUBKEY | CHECKSUM | VERSION), CHECKSUM =
// SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2], VERSION = 3).
func Address(pub []byte) string {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	sum := h.Sum(nil)
	raw := append(append(append([]byte{}, pub...), sum[:2]...), 3)
	return strings.ToLower(base32.StdEncoding.EncodeToString(raw)) + ".onion"
}

func writeExcl(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("onion: writing key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("onion: writing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("onion: writing key: %w", err)
	}
	return f.Close()
}
