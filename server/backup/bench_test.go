package backup

import (
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"filippo.io/age"

	"sandyq/server/datadir"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// The benchmarks back up and restore a data directory whose store holds
// SANDYQ_BENCH_MIB MiB of items (default 64) in 4 MiB items, with the
// production chunk size, and compare with copying the store file and
// encrypting it with age. SANDYQ_BENCH_DIR keeps the data directory (and
// reuses it) so that a large one is made once:
//
//	SANDYQ_BENCH_MIB=1024 SANDYQ_BENCH_DIR=/tmp/sandyq-bench \
//	  go test -run '^$' -bench . -benchtime 3x ./server/backup/

// benchData returns an open data directory for the benchmarks.
func benchData(b *testing.B) (*datadir.Dir, *store.Store, string) {
	b.Helper()
	mib := 64
	if s := os.Getenv("SANDYQ_BENCH_MIB"); s != "" {
		var err error
		if mib, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	root := os.Getenv("SANDYQ_BENCH_DIR")
	if root == "" {
		root = b.TempDir()
	}
	path := filepath.Join(root, fmt.Sprintf("data-%d", mib))
	d, err := datadir.Open(path)
	fresh := err != nil
	if fresh {
		rnd := mrand.NewChaCha8([32]byte{42})
		if d, err = datadir.Create(path, rnd, ""); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"source", "journalist"} {
			if _, err := onion.GenerateKey(d.Join(datadir.OnionDir), name, rnd); err != nil {
				b.Fatal(err)
			}
		}
	}
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if fresh {
		src := store.SourceID{1}
		if err := st.CreateSource(src, "age1example"); err != nil {
			b.Fatal(err)
		}
		rnd := mrand.NewChaCha8([32]byte{43})
		buf := make([]byte, 4<<20)
		for range (mib + 3) / 4 {
			rnd.Read(buf)
			commitItem(b, st, src, buf)
		}
	}
	return d, st, root
}

// storeBytes returns the size of the store snapshot.
func storeBytes(b *testing.B, st *store.Store) int64 {
	n, err := st.BackupTo(func(store.Snapshot) (io.Writer, error) { return io.Discard, nil })
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func BenchmarkBackup(b *testing.B) {
	d, st, root := benchData(b)
	id := newIdentity(b)
	b.SetBytes(storeBytes(b, st))
	out := filepath.Join(root, "bench.backup")
	for b.Loop() {
		os.Remove(out)
		err := WriteFile(out, func(w io.Writer) error {
			_, err := Write(w, d, st, []age.Recipient{id.Recipient()}, testNow)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	os.Remove(out)
}

func BenchmarkRestore(b *testing.B) {
	d, st, root := benchData(b)
	id := newIdentity(b)
	b.SetBytes(storeBytes(b, st))
	file := filepath.Join(root, "bench-restore.backup")
	os.Remove(file)
	err := WriteFile(file, func(w io.Writer) error {
		_, err := Write(w, d, st, []age.Recipient{id.Recipient()}, testNow)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(file)
	dst := filepath.Join(root, "bench-restored")
	for b.Loop() {
		os.RemoveAll(dst)
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		_, err = Restore(f, []age.Identity{id}, dst)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	os.RemoveAll(dst)
}

// BenchmarkBaselineCopyEncrypt is what Write is compared with: copy the
// store file (the server stopped) and encrypt it with age into a file, synced.
func BenchmarkBaselineCopyEncrypt(b *testing.B) {
	d, st, root := benchData(b)
	id := newIdentity(b)
	b.SetBytes(storeBytes(b, st))
	out := filepath.Join(root, "bench.age")
	for b.Loop() {
		if err := encryptFile(d.StorePath(), out, id.Recipient()); err != nil {
			b.Fatal(err)
		}
	}
	os.Remove(out)
}

// BenchmarkBaselineDecrypt is what Restore is compared with: decrypt an age
// file of the store into a file, synced.
func BenchmarkBaselineDecrypt(b *testing.B) {
	d, st, root := benchData(b)
	id := newIdentity(b)
	b.SetBytes(storeBytes(b, st))
	enc := filepath.Join(root, "bench-dec.age")
	if err := encryptFile(d.StorePath(), enc, id.Recipient()); err != nil {
		b.Fatal(err)
	}
	defer os.Remove(enc)
	out := filepath.Join(root, "bench-dec.db")
	for b.Loop() {
		in, err := os.Open(enc)
		if err != nil {
			b.Fatal(err)
		}
		r, err := age.Decrypt(in, id)
		if err != nil {
			b.Fatal(err)
		}
		if err := writeSynced(out, r); err != nil {
			b.Fatal(err)
		}
		in.Close()
	}
	os.Remove(out)
}

func encryptFile(src, dst string, rcpt age.Recipient) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	pr, pw := io.Pipe()
	go func() {
		w, err := age.Encrypt(pw, rcpt)
		if err == nil {
			_, err = io.Copy(w, in)
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	return writeSynced(dst, pr)
}

func writeSynced(path string, r io.Reader) error {
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	return f.Sync()
}
