package bundle

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"sandyq/crypto/sign"
)

const benchSize = 256 << 20

// BenchmarkRead reads a bundle with one 256 MiB item from memory; compare
// with BenchmarkSHA256 of the same bytes: the difference is the reader's
// overhead over hashing.
func BenchmarkRead(b *testing.B) {
	key := testKey(b, sign.Instance, 1)
	var buf bytes.Buffer
	io.Copy(&buf, bigBundle(b, benchSize, key))
	data := buf.Bytes()
	trust := TrustKeys(key.Public())
	dst := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), Submissions, trust, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, ir, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{ir}, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.Next(); err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256 hashes 256 MiB, the floor for BenchmarkRead.
func BenchmarkSHA256(b *testing.B) {
	data := make([]byte, benchSize)
	io.ReadFull(&patternReader{n: benchSize}, data)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		h := sha256.New()
		h.Write(data)
		h.Sum(nil)
	}
}
