package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"filippo.io/age"

	"sandyq/client/bundle"
)

func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*pipeBufSize+12345)
	rand.Read(data)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		r    io.Reader
		err  error
	}{
		{"whole", bytes.NewReader(data), io.EOF},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:100000])), io.EOF},
		{"data and EOF together", iotest.DataErrReader(bytes.NewReader(data)), io.EOF},
		{"error after data", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)), boom},
		{"empty", bytes.NewReader(nil), io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ra := newReadAhead(tc.r)
			defer ra.Close()
			var got bytes.Buffer
			buf := make([]byte, 7777)
			var err error
			for {
				var n int
				n, err = ra.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if err != tc.err {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
			want := data
			switch tc.name {
			case "one byte at a time":
				want = data[:100000]
			case "empty":
				want = nil
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("got %d bytes, want %d", got.Len(), len(want))
			}
			// The error is sticky.
			if _, err := ra.Read(buf); err != tc.err {
				t.Errorf("second error %v", err)
			}
		})
	}
}

// TestReadAheadClose stops a reader before its end: Close returns (the
// goroutine is gone) and later reads fail instead of blocking.
func TestReadAheadClose(t *testing.T) {
	src := &countingReader{r: io.LimitReader(rand.Reader, 1<<30)}
	ra := newReadAhead(src)
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(ra, buf); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	n := src.n
	if n > int64(pipeBuffers+1)*pipeBufSize {
		t.Errorf("read %d bytes ahead; at most %d buffers", n, pipeBuffers+1)
	}
	for {
		_, err := ra.Read(buf)
		if err == errPipeClosed {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if src.n != n {
		t.Error("read after Close")
	}
	ra.Close() // twice is fine
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestAsyncWriter(t *testing.T) {
	data := make([]byte, 5*pipeBufSize+3)
	rand.Read(data)
	var out bytes.Buffer
	var ranges [][2]int64
	w := newAsyncWriter(&out, func(off, n int64) { ranges = append(ranges, [2]int64{off, n}) })
	for p := data; len(p) > 0; {
		k := min(len(p), 100003)
		if n, err := w.Write(p[:k]); n != k || err != nil {
			t.Fatal(n, err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("data differs")
	}
	var next int64
	for _, r := range ranges {
		if r[0] != next || r[1] < writebackEvery {
			t.Errorf("write-back range %v", r)
		}
		next = r[0] + r[1]
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("write after close")
	}

	// An error of the underlying writer is returned, and nothing blocks.
	boom := errors.New("disk full")
	fw := &failingWriter{after: pipeBufSize + 10, err: boom}
	w = newAsyncWriter(fw, nil)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = w.Write(data)
	}
	if cerr := w.Close(); cerr != boom {
		t.Errorf("Close: %v", cerr)
	}
	if err != nil && err != boom {
		t.Errorf("Write: %v", err)
	}
}

type failingWriter struct {
	after int
	err   error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		return f.after, f.err
	}
	f.after -= len(p)
	return len(p), nil
}

// TestLargeItem imports items large enough to go through the pipeline, and
// damaged ones: the result is the same as on one goroutine.
func TestLargeItem(t *testing.T) {
	id := testIdentity(t)
	big := make([]byte, pipeMinSize+3*pipeBufSize+17)
	rand.Read(big)
	items := []testItem{
		{kind: bundle.File, source: 1, seq: 0, filename: "big.bin", content: big},
		{kind: bundle.Message, source: 1, seq: 1, content: []byte("after")},
	}
	b := makeBundle(t, id, items)
	v, dir := newVault(t)
	rep, err := v.Import(reader(t, b), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Imported) != 2 || rep.Imported[0].Size != int64(len(big)) {
		t.Fatalf("report %+v", rep)
	}
	_, f, err := v.OpenContent(idHex(1))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, big) {
		t.Fatal("content differs")
	}
	onlyPaths(t, dir, append(sourcePaths(1), srcHex(1)+"/0-big.bin", srcHex(1)+"/msg-1.txt",
		srcHex(1)+"/.meta/"+idHex(1)+".json", srcHex(1)+"/.meta/"+idHex(2)+".json"))

	// Damage at several places of the large item: an error naming it,
	// nothing of it in the vault.
	m := reader(t, b).Manifest()
	size1, size2 := int(m.Items[0].Size), int(m.Items[1].Size)
	start := len(b) - size1 - size2
	for _, at := range []int{start + 100, start + size1/2, start + size1 - 1} {
		bad := append([]byte{}, b...)
		bad[at] ^= 0x40
		v, dir := newVault(t)
		rep, err := v.Import(reader(t, bad), []age.Identity{id})
		if err == nil || !strings.Contains(err.Error(), idHex(1)) {
			t.Fatalf("damage at %d: %v", at-start, err)
		}
		if len(rep.Imported) != 0 {
			t.Errorf("damage at %d: imported %d items", at-start, len(rep.Imported))
		}
		onlyPaths(t, dir, sourcePaths(1))
	}
	// Cut short inside the large item.
	v2, dir2 := newVault(t)
	if _, err := v2.Import(reader(t, b[:len(b)-len(big)/2]), []age.Identity{id}); !errors.Is(err, bundle.ErrTruncated) {
		t.Errorf("truncated: %v", err)
	}
	onlyPaths(t, dir2, sourcePaths(1))
}
