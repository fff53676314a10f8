package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testDay is the clock of the tests: 2025-03-01 12:34:56 UTC.
var testNow = time.Date(2025, 3, 1, 12, 34, 56, 0, time.UTC)

func testDay() uint32 { return uint32(testNow.Unix() / 86400) }

func testOptions(seed byte) *Options {
	return &Options{
		Rand:      mrand.NewChaCha8([32]byte{seed}),
		Now:       func() time.Time { return testNow },
		ChunkSize: 4 << 10, // small chunks: many per item
	}
}

// openTest opens a fresh store in a temp dir and checks it in Cleanup.
func openTest(t testing.TB, opts *Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sandyq.db")
	if opts == nil {
		opts = testOptions(1)
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Check at cleanup: %v", err)
		}
		s.Close()
	})
	return s, path
}

func srcID(b byte) SourceID { return SourceID{b, 0xaa} }

func mustSource(t testing.TB, s *Store, id SourceID) {
	t.Helper()
	if err := s.CreateSource(id, "age1example"); err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
}

// payload returns n deterministic bytes.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

// writeItem writes data into a new writer (in odd-sized pieces) and
// returns it uncommitted.
func writeItem(t testing.TB, s *Store, src SourceID, data []byte) *ItemWriter {
	t.Helper()
	w, err := s.NewItem(src, KindFile, [16]byte{7})
	if err != nil {
		t.Fatalf("NewItem: %v", err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 3000)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	return w
}

func putItem(t testing.TB, s *Store, src SourceID, data []byte) Item {
	t.Helper()
	items, err := s.Commit(writeItem(t, s, src, data))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return items[0]
}

func readItem(t testing.TB, s *Store, id ItemID) []byte {
	t.Helper()
	r, err := s.OpenItem(id)
	if err != nil {
		t.Fatalf("OpenItem: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading item: %v", err)
	}
	return b
}

func checkItemData(t testing.TB, s *Store, it Item, want []byte) {
	t.Helper()
	got := readItem(t, s, it.ID)
	if !bytes.Equal(got, want) {
		t.Fatalf("item content differs (%d vs %d bytes)", len(got), len(want))
	}
	if it.Size != int64(len(want)) || it.SHA256 != sha256.Sum256(want) {
		t.Fatalf("item size/hash wrong")
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
