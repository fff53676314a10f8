package backup

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/sign"
	"sandyq/server/datadir"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// testNow is the tests' clock: 2025-03-01 12:34:56 UTC.
var testNow = time.Date(2025, 3, 1, 12, 34, 56, 0, time.UTC)

// fixture is a data directory with an open store, as sandyq serve has it.
type fixture struct {
	dir    *datadir.Dir
	st     *store.Store
	onions map[string]string // service name → address
	rng    *mrand.Rand
}

// newFixture makes a data directory with datadir.Create, onion keys for
// "source" and "journalist" made by onion.GenerateKey, and an open store
// with a few sources, items, replies, a recipient set, a journalist and a
// setting.
func newFixture(t testing.TB, seed byte) *fixture {
	t.Helper()
	rnd := mrand.NewChaCha8([32]byte{seed})
	nk, err := sign.Generate(rnd, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	d, err := datadir.Create(filepath.Join(t.TempDir(), "data"), rnd, nk.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: d, onions: make(map[string]string), rng: mrand.New(mrand.NewPCG(uint64(seed), 1))}
	for _, name := range []string{"source", "journalist"} {
		addr, err := onion.GenerateKey(d.Join(datadir.OnionDir), name, rnd)
		if err != nil {
			t.Fatal(err)
		}
		f.onions[name] = addr
	}
	f.st, err = store.Open(d.StorePath(), &store.Options{
		Rand:      rnd,
		Now:       func() time.Time { return testNow },
		ChunkSize: 4 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if err := f.st.PutRecipientSet([16]byte{7}, []byte("a signed set")); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetCurrentRecipientSet([16]byte{7}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutJournalist("alice", []byte("record")); err != nil {
		t.Fatal(err)
	}
	for s := range 3 {
		src := store.SourceID{byte(s + 1)}
		if err := f.st.CreateSource(src, "age1example"); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			f.addItem(t, src, f.rng.IntN(40<<10))
		}
		if _, err := f.st.AddReply(src, bytes.NewReader(payload(f.rng, 3000))); err != nil {
			t.Fatal(err)
		}
	}
	f.addItem(t, store.SourceID{1}, 0) // an empty item, no chunks
	return f
}

// addItem commits one item of n random bytes and returns it.
func (f *fixture) addItem(t testing.TB, src store.SourceID, n int) store.Item {
	t.Helper()
	return commitItem(t, f.st, src, payload(f.rng, n))
}

func commitItem(t testing.TB, st *store.Store, src store.SourceID, data []byte) store.Item {
	t.Helper()
	w, err := st.NewItem(src, store.KindFile, [16]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	items, err := st.Commit(w)
	if err != nil {
		t.Fatal(err)
	}
	return items[0]
}

func payload(rng *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// newIdentity returns a fresh X25519 identity (the tests' newsroom).
func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// backupBytes writes a backup of f to memory.
func backupBytes(t testing.TB, f *fixture, rcpts ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(&buf, f.dir, f.st, rcpts, testNow); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// tree lists every file and directory under root (relative, slash
// separated) with its mode.
func tree(t testing.TB, root string) map[string]fs.FileMode {
	t.Helper()
	out := make(map[string]fs.FileMode)
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noLeftovers fails if parent holds anything but the names in keep (a
// temporary directory or file left behind).
func noLeftovers(t testing.TB, parent string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			t.Errorf("%s left behind in %s", e.Name(), parent)
		}
	}
}

// itemsOf returns all items of st with their ciphertext.
func itemsOf(t testing.TB, st *store.Store) (map[store.ItemID]store.Item, map[store.ItemID][]byte) {
	t.Helper()
	items, err := st.ListItems(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	meta := make(map[store.ItemID]store.Item)
	data := make(map[store.ItemID][]byte)
	for _, it := range items {
		meta[it.ID] = it
		r, err := st.OpenItem(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("reading item: %v", err)
		}
		data[it.ID] = b
	}
	return meta, data
}

// wantErr fails unless err wraps every one of targets.
func wantErr(t testing.TB, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("got %v, want %v", err, target)
		}
	}
}

// wantErrText fails unless err's message contains text.
func wantErrText(t testing.TB, err error, text string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), text) {
		t.Fatalf("got %v, want an error saying %q", err, text)
	}
}
