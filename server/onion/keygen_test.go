package onion

import (
	"bytes"
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	dir := t.TempDir()
	seed := bytes.Repeat([]byte{0x42}, 32)
	addr, err := GenerateKey(dir, "source", bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	// A v3 address: 56 base32 characters that decode to key, checksum and
	// version 3, and the checksum verifies.
	if !strings.HasSuffix(addr, ".onion") || len(addr) != 56+len(".onion") {
		t.Fatalf("address %q is not a v3 onion address", addr)
	}
	raw, err := base32.StdEncoding.DecodeString(strings.ToUpper(strings.TrimSuffix(addr, ".onion")))
	if err != nil || len(raw) != 35 || raw[34] != 3 {
		t.Fatalf("address %q does not decode to a v3 key: %v", addr, err)
	}
	if Address(raw[:32]) != addr {
		t.Errorf("checksum of %q does not verify", addr)
	}
	// Deterministic from the seed.
	addr2, err := GenerateKey(t.TempDir(), "source", bytes.NewReader(seed))
	if err != nil || addr2 != addr {
		t.Errorf("same seed gave %q, want %q (%v)", addr2, addr, err)
	}
	got, err := KeyAddress(dir, "source")
	if err != nil || got != addr {
		t.Errorf("KeyAddress = %q, %v; want %q", got, err, addr)
	}
	for _, name := range []string{secretKeyFile, publicKeyFile, hostnameFile} {
		fi, err := os.Stat(filepath.Join(dir, "services", "source", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", name, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "services", "source")); fi.Mode().Perm() != 0o700 {
		t.Errorf("service directory mode %04o, want 0700", fi.Mode().Perm())
	}
	// It never replaces a key.
	if _, err := GenerateKey(dir, "source", bytes.NewReader(bytes.Repeat([]byte{1}, 32))); err == nil {
		t.Error("GenerateKey replaced an existing key")
	}
	if a, _ := KeyAddress(dir, "source"); a != addr {
		t.Error("the key changed after a refused GenerateKey")
	}
	if _, err := GenerateKey(dir, "../x", bytes.NewReader(seed)); err != ErrBadName {
		t.Errorf("bad name: %v", err)
	}
	if _, err := KeyAddress(dir, "journalist"); err == nil {
		t.Error("KeyAddress of a service without a key succeeded")
	}
}
