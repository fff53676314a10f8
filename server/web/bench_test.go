package web

import (
	"bytes"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
)

// benchUploadSize is the size of the upload in BenchmarkUpload and of the
// stream in its baseline BenchmarkUploadBaselineAge.
const benchUploadSize = 1 << 30

// Run both side by side, on the same machine in the same run:
//
//	go test -run '^$' -bench 'Upload' -benchtime 1x ./server/web
//
// BenchmarkUpload sends one 1 GiB file through the source form over a real
// 127.0.0.1 connection: multipart parsing, envelope sealing, age, store
// group commit and fsync, receipt. BenchmarkUploadBaselineAge encrypts the
// same bytes with age to the same recipient into a plain file with one
// fsync: the floor. Their MB/s ratio is what docs/performance.md reports.
// BenchmarkUpload also reports the peak Go heap during the upload, which
// must not grow with the upload's size.
func BenchmarkUpload(b *testing.B) {
	e := newEnv(b, withLimits(func(l *Limits) { l.MaxSubmission = 2 * benchUploadSize }))
	br := e.browser()
	br.c.Timeout = 30 * time.Minute
	br.newSource()
	tok := br.csrf("/en/submit")
	whole := multipartBody(field("csrf", tok), file("big.bin", []byte("@")))
	at := bytes.IndexByte(whole, '@')

	stopPeak := heapPeak(20 * time.Millisecond)
	b.SetBytes(benchUploadSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := io.MultiReader(bytes.NewReader(whole[:at]),
			io.LimitReader(mrand.NewChaCha8([32]byte{byte(i)}), benchUploadSize),
			bytes.NewReader(whole[at+1:]))
		req, _ := http.NewRequest("POST", e.srv.URL+"/en/submit", body)
		req.ContentLength = int64(len(whole) - 1 + benchUploadSize)
		req.Header.Set("Content-Type", multipartType)
		resp, err := br.c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			b.Fatalf("upload: status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(stopPeak())/(1<<20), "peak-heap-MiB")
}

func BenchmarkUploadBaselineAge(b *testing.B) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.SetBytes(benchUploadSize)
	for i := 0; i < b.N; i++ {
		f, err := os.Create(filepath.Join(dir, "out.age"))
		if err != nil {
			b.Fatal(err)
		}
		w, err := age.Encrypt(f, id.Recipient())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, io.LimitReader(mrand.NewChaCha8([32]byte{byte(i)}), benchUploadSize)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
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
