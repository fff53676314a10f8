package web

import (
	"bytes"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestBurst200 has 200 sources submit 1 MiB each at the same moment over a
// real 127.0.0.1 listener. Every receipt must correspond to a stored item
// that decrypts to exactly the bytes sent. It reports the peak heap.
func TestBurst200(t *testing.T) {
	if testing.Short() {
		t.Skip("burst test skipped in -short mode")
	}
	const sources, size = 200, 1 << 20
	e := newEnv(t, withLimits(func(l *Limits) {
		l.MaxConcurrentUploads = sources
		l.MaxSessions = sources
	}))
	type src struct {
		b    *browser
		name string
		tok  string
		seed [32]byte // the content is a ChaCha8 stream: the test holds no copy
	}
	content := func(s *src) io.Reader { return io.LimitReader(mrand.NewChaCha8(s.seed), size) }
	srcs := make([]*src, sources)
	var wg sync.WaitGroup
	for i := range srcs {
		wg.Go(func() {
			b, name, tok := e.loggedIn()
			s := &src{b: b, name: name, tok: tok}
			rand.Read(s.seed[:])
			srcs[i] = s
		})
	}
	wg.Wait()

	var baseline runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&baseline)
	stopPeak := heapPeak(10 * time.Millisecond)

	start := time.Now()
	statuses := make([]int, sources)
	gate := make(chan struct{})
	for i, s := range srcs {
		wg.Go(func() {
			// The body streams: head, generated content, tail.
			whole := multipartBody(field("csrf", s.tok), file("f.bin", []byte("@")))
			at := bytes.IndexByte(whole, '@')
			body := io.MultiReader(bytes.NewReader(whole[:at]), content(s), bytes.NewReader(whole[at+1:]))
			<-gate
			req, _ := http.NewRequest("POST", e.srv.URL+"/en/submit", body)
			req.ContentLength = int64(len(whole) - 1 + size)
			req.Header.Set("Content-Type", multipartType)
			resp, err := s.b.c.Do(req)
			if err != nil {
				t.Errorf("source %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(gate)
	wg.Wait()
	took := time.Since(start)
	peak := stopPeak()

	for i, s := range srcs {
		if statuses[i] != http.StatusSeeOther {
			t.Errorf("source %d: status %d", i, statuses[i])
			continue
		}
		items := e.items(s.name)
		if len(items) != 1 {
			t.Errorf("source %d: %d items after a receipt, want 1", i, len(items))
			continue
		}
		want, _ := io.ReadAll(content(s))
		if _, got := e.open(items[0]); !bytes.Equal(got, want) {
			t.Errorf("source %d: stored item does not decrypt to what was sent", i)
		}
	}
	t.Logf("%d sources × %d MiB in %v (%.1f MiB/s); heap in use: %.1f MiB before, peak %.1f MiB",
		sources, size>>20, took.Round(time.Millisecond), float64(sources*size)/(1<<20)/took.Seconds(),
		float64(baseline.HeapInuse)/(1<<20), float64(peak)/(1<<20))
}
