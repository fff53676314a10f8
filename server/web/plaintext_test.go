package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPlaintextAtRest submits a unique marker in a message, in a file
// (small and large) and in a file name, and also in submissions that fail
// (the codename warning, over the cap, cut short), then looks for it in the
// store file, the data directory, the temporary directory and the log.
// os.TempDir is pointed at a fresh directory for the test, so that a
// plaintext spill from this process (as ParseMultipartForm would make)
// lands where it is looked for.
func TestNoPlaintextAtRest(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if os.TempDir() != tmp {
		t.Fatal("TMPDIR not honoured")
	}
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxSubmission = 4 << 20 }))
	var rnd [16]byte
	rand.Read(rnd[:])
	marker := "SANDYQ-MARKER-" + hex.EncodeToString(rnd[:])

	b, name, tok := e.loggedIn()
	big := bytes.Repeat([]byte(marker+"\n"), (3<<20)/(len(marker)+1))
	resp, _ := b.submit(field("csrf", tok), field("message", "tip: "+marker),
		file(marker+".txt", []byte(marker)), file("big.bin", big))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	// Failures after part of the body was read.
	b.submit(field("csrf", tok), file("x", []byte(marker)), field("message", marker+" "+name))
	b.submit(field("csrf", tok), file("x", bytes.Repeat([]byte(marker), (5<<20)/len(marker))))
	cut := multipartBody(field("csrf", tok), field("message", marker), file("y", big))
	b.submitRaw(multipartType, bytes.NewReader(cut[:len(cut)/2]))

	if items := e.items(name); len(items) != 3 {
		t.Fatalf("%d items, want 3", len(items))
	}
	for _, dir := range []string{e.dir, tmp} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(data, []byte(marker)) || bytes.Contains(data, []byte("SANDYQ-MARKER")) {
				t.Errorf("plaintext marker found in %s", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(e.log.String(), "SANDYQ-MARKER") {
		t.Error("plaintext marker found in the log")
	}
	// And it is all there, encrypted.
	found := 0
	for _, it := range e.items(name) {
		h, content := e.open(it)
		if bytes.Contains(content, []byte(marker)) || strings.Contains(h.Filename, marker) {
			found++
		}
	}
	if found != 3 {
		t.Errorf("marker decrypts from %d items, want 3", found)
	}
}
