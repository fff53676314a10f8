package envelope

import (
	"io"
	"runtime"
	"testing"

	"filippo.io/age"
)

// zeroReader is an endless source of zero bytes.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// heapSampler is an io.Writer that records the peak HeapInuse every few MiB.
type heapSampler struct {
	n, next int64
	peak    uint64
}

func (s *heapSampler) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.n >= s.next {
		s.next = s.n + 8<<20
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.peak = max(s.peak, m.HeapInuse)
	}
	return len(p), nil
}

// TestConstantMemory seals and opens a large envelope through a pipe and
// checks that the heap does not grow with the size.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large stream")
	}
	size := int64(256 << 20)
	if raceEnabled {
		size = 32 << 20
	}
	id := x25519Identity(t, 1)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	pr, pw := io.Pipe()
	go func() {
		w, err := Seal(pw, testHeader(File), id.Recipient())
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.CopyN(w, zeroReader{}, size); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(w.Close())
	}()
	r, err := Open(pr, id)
	if err != nil {
		t.Fatal(err)
	}
	s := &heapSampler{}
	n, err := io.Copy(s, r)
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	growth := int64(s.peak) - int64(before.HeapInuse)
	t.Logf("%d MiB through Seal/Open: heap in use grew by at most %d KiB", size>>20, growth>>10)
	if growth > 16<<20 {
		t.Fatalf("heap grew by %d MiB for a %d MiB envelope", growth>>20, size>>20)
	}
}

const benchSize = 64 << 20

func benchRecipient(b *testing.B) age.Recipient { return pqIdentity(b, 1).Recipient() }

// BenchmarkSeal and BenchmarkAgeEncrypt encrypt the same 64 MiB to the same
// post-quantum recipient; the ratio of their MB/s is the envelope's cost.
func BenchmarkSeal(b *testing.B) {
	r := benchRecipient(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	for b.Loop() {
		w, err := Seal(io.Discard, testHeader(File), r)
		if err != nil {
			b.Fatal(err)
		}
		for range benchSize / len(buf) {
			w.Write(buf)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAgeEncrypt(b *testing.B) {
	r := benchRecipient(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	for b.Loop() {
		w, err := age.Encrypt(io.Discard, r)
		if err != nil {
			b.Fatal(err)
		}
		for range benchSize / len(buf) {
			w.Write(buf)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
