package datadir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sandyq/crypto/sign"
)

func TestCreateOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	rnd := bytes.NewReader(bytes.Repeat([]byte{7}, PepperSize+32))
	d, err := Create(path, rnd, "sandyq-newsroom1example")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, PepperFile: 0o600, NewsroomKeyFile: 0o600, InstanceKeyFile: 0o600, OnionDir: 0o700} {
		fi, err := os.Stat(d.Join(name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%q: mode %04o, want %04o", name, got, want)
		}
	}
	d2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d2.Pepper()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, bytes.Repeat([]byte{7}, PepperSize)) {
		t.Errorf("pepper = %x", p)
	}
	ik, err := d2.InstanceKey()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := sign.NewPrivateKey(bytes.Repeat([]byte{7}, 32), sign.Instance); !ik.Public().Equal(want.Public()) {
		t.Errorf("instance key is not the one made from rand")
	}
	k, err := d2.NewsroomKey()
	if err != nil || k != "sandyq-newsroom1example" {
		t.Errorf("NewsroomKey() = %q, %v", k, err)
	}
	if err := d2.SetNewsroomKey("sandyq-newsroom1other"); err != nil {
		t.Fatal(err)
	}
	if k, _ := d2.NewsroomKey(); k != "sandyq-newsroom1other" {
		t.Errorf("after SetNewsroomKey: %q", k)
	}
	// No temporary directory is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("parent has %d entries, want 1", len(entries))
	}
}

func TestCreateRefusesNonEmpty(t *testing.T) {
	path := t.TempDir()
	os.WriteFile(filepath.Join(path, "x"), nil, 0o600)
	_, err := Create(path, bytes.NewReader(make([]byte, PepperSize+32)), "")
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if _, err := os.Stat(filepath.Join(path, PepperFile)); err == nil {
		t.Error("pepper written into a non-empty directory")
	}
}

func TestCreateIntoEmptyDir(t *testing.T) {
	path := t.TempDir()
	if _, err := Create(path, bytes.NewReader(make([]byte, PepperSize+32)), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
}

func TestCreateShortRandLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	_, err := Create(filepath.Join(parent, "data"), bytes.NewReader(make([]byte, 3)), "")
	if err == nil {
		t.Fatal("Create succeeded with a short random source")
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 0 {
		t.Errorf("left %d entries behind", len(entries))
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("missing dir: %v", err)
	}
	empty := t.TempDir()
	os.Chmod(empty, 0o700)
	if _, err := Open(empty); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("empty dir: %v", err)
	}
	path := filepath.Join(t.TempDir(), "data")
	d, err := Create(path, bytes.NewReader(make([]byte, PepperSize+32)), "")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o755)
	if _, err := Open(path); !errors.Is(err, ErrPermissions) {
		t.Errorf("world-readable dir: %v", err)
	}
	os.Chmod(path, 0o700)
	os.Chmod(d.Join(PepperFile), 0o644)
	if _, err := d.Pepper(); !errors.Is(err, ErrPermissions) {
		t.Errorf("world-readable pepper: %v", err)
	}
	os.Chmod(d.Join(PepperFile), 0o600)
	os.WriteFile(d.Join(PepperFile), []byte("short"), 0o600)
	if _, err := d.Pepper(); err == nil {
		t.Error("short pepper accepted")
	}
}
