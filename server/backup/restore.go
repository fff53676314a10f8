package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age"

	"sandyq/server/datadir"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// copyBuffer is the buffer the store is copied through.
const copyBuffer = 256 << 10

// Inspect decrypts a backup with identities and checks all of it — every
// entry's name, type, size and SHA-256 against the manifest, the key files,
// the onion addresses — without writing anything anywhere. It reads r to
// the end. The store's own consistency (store.Check) needs the file on
// disk and is run by [Restore] only; Inspect checks that the store's bytes
// are those the manifest lists.
func Inspect(r io.Reader, identities []age.Identity) (*Info, error) {
	buf := make([]byte, copyBuffer)
	a, err := readArchive(r, identities, func(size int64, r io.Reader) error {
		return copyEntry(io.Discard, r, size, buf)
	})
	if err != nil {
		return nil, err
	}
	return a.info(), nil
}

// Restore decrypts a backup with identities and restores it as a new data
// directory at dst, which must not exist or must be an empty directory
// that is not a mount point ([ErrDestination] otherwise; the parent is
// created, mode 0700, if needed). It is meant for a stopped server:
// nothing runs on dst.
//
// Everything is written into a fresh temporary directory beside dst
// (".NAME.restore-…", mode 0700; files 0600, directories 0700, as package
// datadir expects), checked there, synced, and only then renamed onto dst
// in one rename(2), which atomically replaces an empty directory. So a
// failure, or a kill -9 at any point, leaves dst as it was (absent or
// empty) or complete, never half-restored. The temporary directory is
// removed on failure; one left by a killed Restore is removed by the next
// Restore into the same dst (each holds a lock on its own, so a Restore
// that is still running is left alone).
//
// Checked before the rename, in this order: the age file decrypts and
// authenticates to its end; the archive has only known names, regular
// files, in order, each within its size cap, and nothing after the
// manifest; the free space holds the store; every file matches the size
// and SHA-256 the manifest lists, and the manifest lists every file; the
// pepper, the instance key and the newsroom key parse, and the onion keys
// give the manifest's addresses; the restored directory opens with
// package datadir and onion.KeyAddress agrees; the store opens read-write
// (which removes uploads that were in progress when the snapshot was
// taken), passes store.Check, and holds the manifest's counts.
//
// tor's own state (DIR/onion/tor) is not in a backup: tor rebuilds it.
// Neither are the onion services' authorized_clients, which sandyq serve
// writes from the journalists in the store.
func Restore(r io.Reader, identities []age.Identity, dst string) (info *Info, err error) {
	abs, err := filepath.Abs(dst)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := checkDestination(abs); err != nil {
		return nil, err
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("backup: creating the parent directory: %w", err)
	}
	prefix := "." + filepath.Base(abs) + ".restore-"
	removeStale(parent, prefix)
	tmp, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, fmt.Errorf("backup: creating a temporary directory: %w", err)
	}
	lock, err := lockDir(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("backup: locking the temporary directory: %w", err)
	}
	defer lock.Close()
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("backup: creating a temporary directory: %w", err)
	}

	storePath := filepath.Join(tmp, datadir.StoreFile)
	buf := make([]byte, copyBuffer)
	a, err := readArchive(r, identities, func(size int64, r io.Reader) error {
		return restoreStore(storePath, size, r, buf)
	})
	if err != nil {
		return nil, err
	}
	for _, f := range a.m.Files {
		if data, ok := a.small[f.Name]; ok {
			if err := writeSmall(tmp, f.Name, data); err != nil {
				return nil, err
			}
		}
	}
	if err := os.Mkdir(filepath.Join(tmp, datadir.OnionDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("backup: creating the onion directory: %w", err)
	}
	info, err = checkRestored(tmp, a)
	if err != nil {
		return nil, err
	}
	if err := syncTree(tmp); err != nil {
		return nil, err
	}
	// rename(2) replaces an empty directory atomically; os.Rename refuses
	// to, so call the system call directly (as datadir.Create does).
	if err := syscall.Rename(tmp, abs); errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTDIR) {
		return nil, fmt.Errorf("%w: %s is not an empty directory", ErrDestination, abs)
	} else if err != nil {
		return nil, fmt.Errorf("backup: moving the restored directory into place: %w", err)
	}
	info.Dir = abs
	if err := syncDir(parent); err != nil {
		// Renamed: dst is complete; only its durability is in doubt.
		return info, err
	}
	return info, nil
}

// checkDestination refuses a dst that exists and is not an empty directory.
func checkDestination(abs string) error {
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrDestination, abs)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s is not empty", ErrDestination, abs)
	}
	// The restore is built beside dst and renamed onto it, which cannot
	// cross file systems: say so now rather than after the whole restore.
	if pfi, err := os.Stat(filepath.Dir(abs)); err == nil {
		a, aok := fi.Sys().(*syscall.Stat_t)
		p, pok := pfi.Sys().(*syscall.Stat_t)
		if aok && pok && a.Dev != p.Dev {
			return fmt.Errorf("%w: %s is a mount point (restore into a new directory inside it)", ErrDestination, abs)
		}
	}
	return nil
}

// lockDir opens dir and takes an exclusive flock on it (without waiting),
// which the kernel drops when the process dies.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStale removes the temporary directories that killed Restores into
// the same destination left in parent: those named with prefix whose lock
// nobody holds. Best effort: one that cannot be removed stays.
func removeStale(parent, prefix string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		path := filepath.Join(parent, e.Name())
		lock, err := lockDir(path)
		if err != nil {
			continue // a Restore is running, or it is gone
		}
		os.RemoveAll(path)
		lock.Close()
	}
}

// restoreStore writes the store entry to path (a new file, mode 0600),
// after checking that the file system has room for it, and syncs it.
func restoreStore(path string, size int64, r io.Reader, buf []byte) (err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err == nil {
		if free := int64(st.Bavail) * st.Bsize; size > free {
			return fmt.Errorf("%w: the store needs %d bytes, %d are free", ErrNoSpace, size, free)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("backup: writing the store: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("backup: writing the store: %w", cerr)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("backup: writing the store: %w", err)
	}
	// Hide the file's ReadFrom, which would copy through a 32 KiB buffer.
	if err := copyEntry(struct{ io.Writer }{f}, r, size, buf); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: writing the store: %w", err)
	}
	return nil
}

// writeSmall writes one small file of the archive under root, creating
// its directories (mode 0700) and the file (mode 0600), and syncs it.
func writeSmall(root, name string, data []byte) error {
	path := filepath.Join(root, filepath.FromSlash(name))
	rel := filepath.Dir(filepath.FromSlash(name))
	if rel != "." {
		cur := root
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			cur = filepath.Join(cur, part)
			if err := os.Mkdir(cur, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("backup: creating %s: %w", rel, err)
			}
			if err := os.Chmod(cur, 0o700); err != nil {
				return fmt.Errorf("backup: creating %s: %w", rel, err)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("backup: writing %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: writing %s: %w", name, err)
	}
	return nil
}

// checkRestored checks the restored directory with the readers sandyq
// itself uses (datadir, onion.KeyAddress, the store) and returns its Info.
func checkRestored(dir string, a *archive) (*Info, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	d, err := datadir.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("backup: the restored directory: %w", err)
	}
	if _, err := d.Pepper(); err != nil {
		return nil, bad("the restored directory: %v", err)
	}
	inst, err := d.InstanceKey()
	if err != nil {
		return nil, bad("the restored directory: %v", err)
	}
	if inst.Public().String() != a.k.instance {
		return nil, bad("the restored instance key differs from the archive's")
	}
	if nr, err := d.NewsroomKey(); err != nil || nr != a.k.newsroom {
		return nil, bad("the restored newsroom key differs from the archive's")
	}
	for _, o := range a.k.onions {
		addr, err := onion.KeyAddress(d.Join(datadir.OnionDir), o.Name)
		if err != nil || addr != o.Addr {
			return nil, bad("onion service %q: the restored key does not give the manifest's address", o.Name)
		}
	}
	info := a.info()
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: the store does not open: %w", ErrMalformed, err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		return nil, fmt.Errorf("%w: the store fails its check: %w", ErrMalformed, err)
	}
	stats, err := st.Stats()
	if err != nil {
		return nil, fmt.Errorf("%w: the store: %w", ErrMalformed, err)
	}
	last, err := st.LastCursor()
	if err != nil {
		return nil, fmt.Errorf("%w: the store: %w", ErrMalformed, err)
	}
	if stats.Sources != info.Sources || stats.Items != info.Items || stats.Replies != info.Replies || last != info.LastCursor {
		return nil, bad("the store holds %d sources, %d items, %d replies, cursor %d; the manifest says %d, %d, %d, %d",
			stats.Sources, stats.Items, stats.Replies, last, info.Sources, info.Items, info.Replies, info.LastCursor)
	}
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("backup: closing the restored store: %w", err)
	}
	return info, nil
}

// syncTree syncs every directory under root (files were synced as they
// were written), deepest first, root last.
func syncTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup: syncing: %w", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: syncing %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("backup: syncing %s: %w", path, err)
	}
	return nil
}
