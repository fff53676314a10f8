package backup

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"

	"sandyq/server/datadir"
	"sandyq/server/store"
)

// Write writes a backup of the data directory dir and its open store st
// to w: one age file, encrypted to recipients (the newsroom's recipient set
// in force), holding a tar archive of the pepper, newsroom.pub, instance.key,
// the key files of every onion service, a consistent snapshot of the store
// and a manifest (docs/format.md, "Backups").
//
// The store keeps serving meanwhile: the snapshot is one bbolt read
// transaction (see [store.Store.BackupTo]), and the key files are read as
// that transaction begins. The snapshot is streamed from the store file
// through age to w in 64 KiB chunks: memory stays small whatever the
// store's size, and nothing is written anywhere but to w. now gives the day
// recorded in the manifest (UTC; no finer time is recorded, entry times
// included).
//
// Write checks the key files first (the same checks as [Restore]) and
// writes nothing if one is missing or malformed. On error, w holds a
// partial file that no reader accepts; delete it ([WriteFile] does).
func Write(w io.Writer, dir *datadir.Dir, st *store.Store, recipients []age.Recipient, now time.Time) (*Info, error) {
	if len(recipients) == 0 {
		return nil, errors.New("backup: no recipients to encrypt to")
	}
	y, mo, d := now.UTC().Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	var (
		aw    io.WriteCloser
		tw    *tar.Writer
		m     = &manifest{Day: day}
		k     *keys
		sum   hash.Hash
		snap  store.Snapshot
		entry = func(name string, size int64) error {
			return tw.WriteHeader(&tar.Header{
				Typeflag: tar.TypeReg,
				Name:     name,
				Size:     size,
				Mode:     0o600,
				ModTime:  day,
			})
		}
	)
	_, err := st.BackupTo(func(s store.Snapshot) (io.Writer, error) {
		snap = s
		small, names, err := readDataDir(dir)
		if err != nil {
			return nil, err
		}
		if k, err = checkKeys(small); err != nil {
			return nil, fmt.Errorf("backup: the data directory: %w", err)
		}
		if aw, err = age.Encrypt(w, recipients...); err != nil {
			return nil, fmt.Errorf("backup: encrypting: %w", err)
		}
		tw = tar.NewWriter(aw)
		for _, name := range names {
			data := small[name]
			if err := entry(name, int64(len(data))); err != nil {
				return nil, fmt.Errorf("backup: writing: %w", err)
			}
			if _, err := tw.Write(data); err != nil {
				return nil, fmt.Errorf("backup: writing: %w", err)
			}
			m.Files = append(m.Files, fileEntry{Name: name, Size: int64(len(data)), SHA256: sha256.Sum256(data)})
		}
		if err := entry(datadir.StoreFile, s.Size); err != nil {
			return nil, fmt.Errorf("backup: writing: %w", err)
		}
		sum = sha256.New()
		return io.MultiWriter(sum, tw), nil
	})
	if err != nil {
		return nil, err
	}
	m.Files = append(m.Files, fileEntry{Name: datadir.StoreFile, Size: snap.Size, SHA256: sumOf(sum)})
	m.Instance, m.Onions = k.instance, k.onions
	m.Sources, m.Items, m.Replies, m.LastCursor = snap.Sources, snap.Items, snap.Replies, snap.LastCursor
	text := m.marshal()
	if err := entry(ManifestName, int64(len(text))); err != nil {
		return nil, fmt.Errorf("backup: writing: %w", err)
	}
	if _, err := tw.Write(text); err != nil {
		return nil, fmt.Errorf("backup: writing: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: writing: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("backup: writing: %w", err)
	}
	a := &archive{m: m, k: k}
	return a.info(), nil
}

// readDataDir reads the small files of a data directory: the pepper, the
// newsroom key (if pinned), the instance key, and the key files of every
// onion service that has a key. It returns them by archive name, and the
// names in archive order. Entries of DIR/onion/services that are not
// directories named as package onion names services, and service
// directories without a secret key, are not services and are skipped.
func readDataDir(dir *datadir.Dir) (map[string][]byte, []string, error) {
	small := make(map[string][]byte)
	var names []string
	add := func(name string, limit int64, optional bool) error {
		data, err := readRegular(dir.Join(filepath.FromSlash(name)), limit)
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("backup: reading %s: %w", name, err)
		}
		small[name] = data
		names = append(names, name)
		return nil
	}
	if err := add(datadir.PepperFile, datadir.PepperSize, false); err != nil {
		return nil, nil, err
	}
	if err := add(datadir.NewsroomKeyFile, maxKeyFile, true); err != nil {
		return nil, nil, err
	}
	if err := add(datadir.InstanceKeyFile, maxKeyFile, false); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir.Join(filepath.FromSlash(onionServicesDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("backup: listing onion services: %w", err)
	}
	var services []string
	for _, e := range entries { // sorted by name
		if !e.IsDir() || !validService(e.Name()) {
			continue
		}
		_, err := os.Lstat(dir.Join(filepath.FromSlash(onionPath(e.Name(), onionSecretFile))))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		services = append(services, e.Name())
	}
	if len(services) > MaxServices {
		return nil, nil, fmt.Errorf("backup: more than %d onion services", MaxServices)
	}
	for _, svc := range services {
		for _, f := range onionFiles {
			limit := int64(onionSecretSize)
			if f == onionHostnameFile {
				limit = onionAddrLen + 1
			}
			if err := add(onionPath(svc, f), limit, f == onionHostnameFile); err != nil {
				return nil, nil, err
			}
		}
	}
	return small, names, nil
}

// readRegular reads a regular file (a symbolic link is refused) of at most
// limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("file has %d bytes, at most %d expected", fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file has more than %d bytes", limit)
	}
	return data, nil
}

// WriteFile creates the file path (which must not exist: [ErrDestination])
// with mode 0600 and fills it with write, for example
//
//	err := backup.WriteFile(out, func(w io.Writer) error {
//		_, err := backup.Write(w, dir, st, recipients, time.Now())
//		return err
//	})
//
// The bytes go to a new temporary file beside path (".NAME.tmp-…", created
// with O_EXCL and mode 0600), which is synced and then hard-linked to path
// only once write has succeeded: link(2) never replaces an existing file.
// The temporary name is removed in every case, so a failed backup leaves
// nothing; only a crash can leave the temporary file behind, never a
// partial file at path.
func WriteFile(path string, write func(w io.Writer) error) (err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return fmt.Errorf("%w: %s", ErrDestination, abs)
	}
	dir := filepath.Dir(abs)
	f, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".tmp-")
	if err != nil {
		return fmt.Errorf("backup: creating the output file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("backup: creating the output file: %w", err)
	}
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: writing the output file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: writing the output file: %w", err)
	}
	if err := os.Link(tmp, abs); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrDestination, abs)
	} else if err != nil {
		return fmt.Errorf("backup: creating the output file: %w", err)
	}
	// The file is complete at path: drop the temporary name.
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: removing the temporary file: %w", err)
	}
	return syncDir(dir)
}
