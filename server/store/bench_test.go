package store

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// benchSize is the plaintext of one benchmark iteration.
const benchSize = 1 << 30

// benchSource writes benchSize deterministic bytes (a 1 MiB ChaCha8 block,
// repeated) to w, in 64 KiB writes like an HTTP body copy.
func benchSource(b *testing.B, w io.Writer) {
	b.Helper()
	block := payload(42, 1<<20)
	for n := 0; n < benchSize; n += len(block) {
		for off := 0; off < len(block); off += 64 << 10 {
			if _, err := w.Write(block[off : off+64<<10]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchRecipient(b *testing.B) age.Recipient {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	return id.Recipient()
}

// BenchmarkIngest age-encrypts 1 GiB into an ItemWriter and commits it.
func BenchmarkIngest(b *testing.B) {
	rcpt := benchRecipient(b)
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	src := SourceID{1}
	if err := s.CreateSource(src, "age1x"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		w, err := s.NewItem(src, KindFile, [16]byte{})
		if err != nil {
			b.Fatal(err)
		}
		enc, err := age.Encrypt(w, rcpt)
		if err != nil {
			b.Fatal(err)
		}
		benchSource(b, enc)
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
		items, err := s.Commit(w)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.DeleteItem(items[0].ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkAgeToFile is the baseline: the same stream age-encrypted into a
// plain file, then one Sync.
func BenchmarkAgeToFile(b *testing.B) {
	rcpt := benchRecipient(b)
	dir := b.TempDir()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		f, err := os.OpenFile(filepath.Join(dir, "out.age"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		enc, err := age.Encrypt(f, rcpt)
		if err != nil {
			b.Fatal(err)
		}
		benchSource(b, enc)
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
