package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sandyq/client/bundle"
	"sandyq/crypto/sign"
)

func TestPin(t *testing.T) {
	v, dir := newVault(t)
	k, err := v.LoadPin()
	if k != nil || err != nil {
		t.Fatalf("fresh vault: %v, %v", k, err)
	}
	key := testKey(t).Public()
	if err := bundle.Pin(v, key); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ".sandyq", "instance.pub")
	checkFileMode(t, p, 0o600)
	if data, _ := os.ReadFile(p); string(data) != key.String()+"\n" {
		t.Errorf("pin file: %q", data)
	}
	if k, err := v.LoadPin(); err != nil || !k.Equal(key) {
		t.Fatalf("LoadPin: %v, %v", k, err)
	}
	if err := bundle.Pin(v, key); err != nil {
		t.Errorf("pinning the same key again: %v", err)
	}
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{8}, 32), sign.Instance)
	if err := bundle.Pin(v, other.Public()); !errors.Is(err, bundle.ErrPinMismatch) {
		t.Errorf("another key: %v", err)
	}
	if err := v.SavePin(other.Public()); !errors.Is(err, bundle.ErrPinMismatch) {
		t.Errorf("SavePin over a pin: %v", err)
	}
	if k, _ := v.LoadPin(); !k.Equal(key) {
		t.Error("the pin changed")
	}
	acc, _ := sign.NewPrivateKey(bytes.Repeat([]byte{8}, 32), sign.Access)
	if err := v.SavePin(acc.Public()); err == nil {
		t.Error("pinned an access key")
	}
	// The settings directory is not a source and holds no item.
	if l, err := v.List(); err != nil || len(l) != 0 {
		t.Errorf("list: %v, %v", l, err)
	}
	for p := range walk(t, dir) {
		if filepath.Base(p) != ".sandyq" && filepath.Base(p) != "instance.pub" && p != "." {
			t.Errorf("unexpected %q", p)
		}
	}
}

func TestPinTrustOnFirstUse(t *testing.T) {
	v, _ := newVault(t)
	key := testKey(t).Public()
	asked := 0
	trust := bundle.TrustOnFirstUse(v, func(k *sign.PublicKey) error {
		asked++
		return nil
	})
	if err := trust(key); err != nil || asked != 1 {
		t.Fatalf("first use: %v, asked %d", err, asked)
	}
	if err := trust(key); err != nil || asked != 1 {
		t.Fatalf("second use: %v, asked %d", err, asked)
	}
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{8}, 32), sign.Instance)
	if err := trust(other.Public()); !errors.Is(err, bundle.ErrPinMismatch) {
		t.Fatalf("other key: %v", err)
	}
	if err := bundle.Pinned(v)(key); err != nil {
		t.Fatalf("pinned: %v", err)
	}
}

func TestPinHostile(t *testing.T) {
	key := testKey(t).Public()
	outside := filepath.Join(t.TempDir(), "outside.pub")
	os.WriteFile(outside, []byte(key.String()+"\n"), 0o600)

	// A symlink planted as the pin is not read, and not written through.
	v, dir := newVault(t)
	os.Mkdir(filepath.Join(dir, ".sandyq"), 0o700)
	os.Symlink(outside, filepath.Join(dir, ".sandyq", "instance.pub"))
	if k, err := v.LoadPin(); !errors.Is(err, ErrNotRegular) || k != nil {
		t.Errorf("symlinked pin: %v, %v", k, err)
	}
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{8}, 32), sign.Instance)
	if err := v.SavePin(other.Public()); err == nil {
		t.Error("pinned over a symlink")
	}
	if data, _ := os.ReadFile(outside); string(data) != key.String()+"\n" {
		t.Error("written through a symlink")
	}

	// A symlink as the settings directory: refused.
	v, dir = newVault(t)
	os.Symlink(filepath.Dir(outside), filepath.Join(dir, ".sandyq"))
	if err := v.SavePin(other.Public()); err == nil {
		t.Error("pinned through a symlinked directory")
	}
	if ents, _ := os.ReadDir(filepath.Dir(outside)); len(ents) != 1 {
		t.Errorf("written outside: %v", ents)
	}

	// Damaged pins are errors, never "nothing pinned".
	for name, content := range map[string]string{
		"empty":   "",
		"garbage": "hello\n",
		"secret":  "SANDYQ-INSTANCE-SECRET-KEY-1QQQQ\n",
		"access":  "sandyq-access1qqqq\n",
		"large":   string(bytes.Repeat([]byte(" "), 2000)) + key.String(),
	} {
		v, dir := newVault(t)
		os.Mkdir(filepath.Join(dir, ".sandyq"), 0o700)
		os.WriteFile(filepath.Join(dir, ".sandyq", "instance.pub"), []byte(content), 0o600)
		if k, err := v.LoadPin(); err == nil || k != nil {
			t.Errorf("%s pin: %v, %v", name, k, err)
		} else if bytes.Contains([]byte(err.Error()), []byte("SECRET")) {
			t.Errorf("%s: error echoes the file: %v", name, err)
		}
	}
}
