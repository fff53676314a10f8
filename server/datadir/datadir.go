// Package datadir lays out and opens a sandyq data directory.
//
// A data directory holds everything one sandyq instance needs, and nothing
// that identifies a source:
//
//	DIR/                 0700
//	  sandyq.db          the bbolt store (ciphertext and public metadata only)
//	  pepper             32 random bytes, the Argon2id salt for codenames, 0600
//	  newsroom.pub       the pinned newsroom signing key (public), 0600
//	  instance.key       the instance signing key (Ed25519, signs bundles), 0600
//	  onion/             tor's state, the onion service keys and sockets,
//	                     0700 (see package onion)
//	  control.sock       the admin control socket while sandyq serve runs, 0600
//
// The pepper lives beside the database, not in it, so that a copy of the
// database alone (a backup, say) cannot be used to test candidate codenames.
//
// [Create] builds a new directory atomically: everything is written into a
// fresh sibling directory which is then renamed into place, so an interrupted
// init leaves either nothing or a complete directory.
package datadir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"sandyq/crypto/sign"
)

// File names inside a data directory.
const (
	StoreFile       = "sandyq.db"
	PepperFile      = "pepper"
	NewsroomKeyFile = "newsroom.pub"
	InstanceKeyFile = "instance.key"
	OnionDir        = "onion"
	ControlSocket   = "control.sock"
)

// PepperSize is the size of the instance pepper in bytes.
const PepperSize = 32

// Errors returned by this package.
var (
	// ErrExists is returned by Create when the directory exists and is not empty.
	ErrExists = errors.New("data directory already exists and is not empty")
	// ErrNotInitialised is returned by Open when the directory is not a sandyq data directory.
	ErrNotInitialised = errors.New("not a sandyq data directory (run sandyq init first)")
	// ErrPermissions is returned when a directory or secret file is readable by others.
	ErrPermissions = errors.New("unsafe permissions")
)

// Dir is an opened data directory.
type Dir struct {
	path string
}

// Create makes a new data directory at path with a fresh pepper read from
// rand, and the given newsroom public key (which may be empty, to be set
// later). path must not exist, or be an empty directory.
func Create(path string, rand io.Reader, newsroomKey string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s: %w", abs, ErrExists)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading data directory: %w", err)
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("creating parent directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".sandyq-init-")
	if err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	pepper := make([]byte, PepperSize)
	if _, err := io.ReadFull(rand, pepper); err != nil {
		return nil, fmt.Errorf("generating pepper: %w", err)
	}
	if err := writeFileSync(filepath.Join(tmp, PepperFile), pepper); err != nil {
		return nil, err
	}
	inst, err := sign.Generate(rand, sign.Instance)
	if err != nil {
		return nil, fmt.Errorf("generating instance key: %w", err)
	}
	if err := writeFileSync(filepath.Join(tmp, InstanceKeyFile), []byte(inst.String()+"\n")); err != nil {
		return nil, err
	}
	if newsroomKey != "" {
		if err := writeFileSync(filepath.Join(tmp, NewsroomKeyFile), []byte(newsroomKey+"\n")); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{OnionDir} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating data directory: %w", err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	// rename(2) replaces an empty directory atomically; os.Rename refuses to,
	// so call the system call directly.
	if err := syscall.Rename(tmp, abs); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return nil, err
	}
	return &Dir{path: abs}, nil
}

// Open opens an existing data directory and checks its permissions.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", abs, ErrNotInitialised)
	} else if err != nil {
		return nil, fmt.Errorf("opening data directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: %w", abs, ErrNotInitialised)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o, want 0700): %w", abs, fi.Mode().Perm(), ErrPermissions)
	}
	if _, err := os.Stat(filepath.Join(abs, PepperFile)); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, ErrNotInitialised)
	}
	return &Dir{path: abs}, nil
}

// Path returns the absolute path of the data directory.
func (d *Dir) Path() string { return d.path }

// Join returns the path of name inside the data directory.
func (d *Dir) Join(name ...string) string {
	return filepath.Join(append([]string{d.path}, name...)...)
}

// StorePath returns the path of the bbolt store.
func (d *Dir) StorePath() string { return d.Join(StoreFile) }

// Pepper reads the instance pepper, checking its size and permissions.
func (d *Dir) Pepper() ([]byte, error) {
	b, err := readSecret(d.Join(PepperFile), PepperSize+1)
	if err != nil {
		return nil, fmt.Errorf("reading pepper: %w", err)
	}
	if len(b) != PepperSize {
		return nil, fmt.Errorf("reading pepper: file has %d bytes, want %d", len(b), PepperSize)
	}
	return b, nil
}

// InstanceKey reads the instance signing key, which signs the bundles
// journalists fetch; their clients pin its public half.
func (d *Dir) InstanceKey() (*sign.PrivateKey, error) {
	b, err := readSecret(d.Join(InstanceKeyFile), 1024)
	if err != nil {
		return nil, fmt.Errorf("reading instance key: %w", err)
	}
	k, err := sign.ParsePrivateKey(string(bytes.TrimSpace(b)), sign.Instance)
	if err != nil {
		return nil, fmt.Errorf("reading instance key: %s does not hold an instance secret key", InstanceKeyFile)
	}
	return k, nil
}

// NewsroomKey returns the pinned newsroom public key as text, or "" if none
// is pinned yet.
func (d *Dir) NewsroomKey() (string, error) {
	b, err := readSecret(d.Join(NewsroomKeyFile), 1024)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading newsroom key: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// SetNewsroomKey pins the newsroom public key, replacing the file atomically.
func (d *Dir) SetNewsroomKey(key string) error {
	tmp := d.Join(NewsroomKeyFile + ".tmp")
	os.Remove(tmp)
	if err := writeFileSync(tmp, []byte(key+"\n")); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.Join(NewsroomKeyFile)); err != nil {
		return fmt.Errorf("pinning newsroom key: %w", err)
	}
	return syncDir(d.path)
}

// readSecret reads at most limit bytes of a file that must not be
// accessible to other users.
func readSecret(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o, want 0600): %w", path, fi.Mode().Perm(), ErrPermissions)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// writeFileSync creates path (which must not exist) with mode 0600, writes
// data and syncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}
