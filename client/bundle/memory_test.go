package bundle

import (
	"crypto/sha256"
	"io"
	"runtime"
	"testing"

	"sandyq/crypto/sign"
)

// patternReader yields n deterministic bytes without holding them.
type patternReader struct {
	n, off int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>11 ^ x>>23)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// bigBundle streams a bundle with one item of size bytes into a pipe.
func bigBundle(t testing.TB, size int64, key *sign.PrivateKey) io.Reader {
	h := sha256.New()
	io.Copy(h, &patternReader{n: size})
	m := &Manifest{Type: Submissions, After: 0, UpTo: 1,
		Sources: []Source{{ID: id32(0), ReplyRecipient: testRecipient}},
		Items:   []Item{{ID: id16(0), Source: id32(0), Kind: File, Seq: 1, Size: size}},
	}
	copy(m.Items[0].SHA256[:], h.Sum(nil))
	pr, pw := io.Pipe()
	go func() {
		w, err := NewWriter(pw, m, key)
		if err == nil {
			err = w.WriteItem(&patternReader{n: size})
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func TestMemoryBigItem(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	const size = 256 << 20
	key := testKey(t, sign.Instance, 1)
	src := bigBundle(t, size, key)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := before.HeapAlloc

	r, err := NewReader(src, Submissions, TrustKeys(key.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ir, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	var n int64
	var ms runtime.MemStats
	for i := 0; ; i++ {
		k, err := ir.Read(buf)
		n += int64(k)
		if i%2048 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the item: %v", err)
	}
	runtime.ReadMemStats(&ms)
	if n != size {
		t.Fatalf("read %d bytes", n)
	}
	grew := int64(peak) - int64(before.HeapAlloc)
	allocated := ms.TotalAlloc - before.TotalAlloc
	t.Logf("256 MiB item: heap grew at most %d KiB, %d KiB allocated in total (writer included)", grew>>10, allocated>>10)
	const bound = 8 << 20
	if grew > bound || allocated > bound {
		t.Errorf("reading a 256 MiB item used %d bytes of heap (%d allocated), more than %d", grew, allocated, bound)
	}
}
