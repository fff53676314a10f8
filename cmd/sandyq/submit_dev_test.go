package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/store"
)

// newsroomSetup pins a fresh newsroom key in dir and installs a signed set
// of one post-quantum identity, returned with the newsroom's public key.
func newsroomSetup(t *testing.T, bin, dir, work string) (*age.HybridIdentity, *sign.PrivateKey) {
	t.Helper()
	newsroom, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set, err := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := set.Sign(newsroom)
	if err != nil {
		t.Fatal(err)
	}
	setFile := filepath.Join(work, "set.txt")
	os.WriteFile(setFile, signed, 0o600)
	for _, args := range [][]string{
		{"admin", "-d", dir, "newsroom", "pin", newsroom.Public().String()},
		{"admin", "-d", dir, "recipients", "install", setFile},
	} {
		if _, stderr, code := sandyqRun(t, bin, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	return id, newsroom
}

// TestSubmitDev sends a message and files with "sandyq submit" to a real
// server in development mode, then decrypts what the store holds.
func TestSubmitDev(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	id, newsroom := newsroomSetup(t, bin, dir, work)

	files := map[string][]byte{
		"notes.txt":  []byte("plain notes\n"),
		"empty.bin":  nil,
		"chunk.bin":  bytes.Repeat([]byte{7}, 64<<10),            // exactly one age chunk of content
		"big.pdf":    append(make([]byte, 3<<20), "tail"...),     // several chunks
		"ünï côdé.x": []byte("a file name in UTF-8 with spaces"), // name bytes kept as sent
	}
	var paths []string
	for name, data := range files {
		p := filepath.Join(work, name)
		os.WriteFile(p, data, 0o600)
		paths = append(paths, p)
	}
	srv, srcURL, _ := devServe(t, bin, dir)
	message := "A message from the CLI\nwith two lines"
	args := append([]string{"submit", "--dev", "--server", srcURL, "--newsroom-key", newsroom.Public().String(), "-m", message}, paths...)
	stdout, stderr, code := sandyqRun(t, bin, args...)
	if code != 0 {
		t.Fatalf("submit: exit %d\n%s", code, stderr)
	}
	code1 := strings.TrimSpace(stdout)
	if _, err := codename.Normalize(code1); err != nil {
		t.Fatalf("submit printed %q, not a codename", stdout)
	}
	if !strings.Contains(stderr, "sent 6 items") {
		t.Fatalf("stderr:\n%s", stderr)
	}
	// A returning source: the same codename, from a file.
	cf := filepath.Join(work, "codename.txt")
	os.WriteFile(cf, []byte(code1+"\n"), 0o600)
	stdout, stderr, code = sandyqRun(t, bin, "submit", "--dev", "--server", srcURL, "--newsroom-key",
		newsroom.Public().String(), "--codename-file", cf, "-m", "second visit")
	if code != 0 || stdout != "" {
		t.Fatalf("returning submit: exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	// The wrong newsroom key: refused before anything is sent.
	other, _ := sign.Generate(rand.Reader, sign.Newsroom)
	_, stderr, code = sandyqRun(t, bin, "submit", "--dev", "--server", srcURL, "--newsroom-key", other.Public().String(), "-m", "x")
	if code != 1 || !strings.Contains(stderr, "not signed by this newsroom key") {
		t.Fatalf("wrong newsroom key: exit %d\n%s", code, stderr)
	}
	// A secret key given as the newsroom key is refused without echoing it.
	_, stderr, code = sandyqRun(t, bin, "submit", "--dev", "--server", srcURL, "--newsroom-key", newsroom.String(), "-m", "x")
	if code != 1 || strings.Contains(stderr, newsroom.String()) {
		t.Fatalf("secret newsroom key: exit %d\n%s", code, stderr)
	}
	// Without --dev a loopback server is refused.
	if _, _, code := sandyqRun(t, bin, "submit", "--server", srcURL, "--newsroom-key", newsroom.Public().String(), "-m", "x"); code != 2 {
		t.Fatalf("loopback without --dev: exit %d, want 2", code)
	}
	srv.stop(t)
	if bytes.Contains(srv.stderr.Bytes(), []byte(code1)) {
		t.Fatal("the server logged the codename")
	}

	st, err := store.Open(filepath.Join(dir, "sandyq.db"), &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	items, err := st.ListItems(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 7 {
		t.Fatalf("store holds %d items, want 7", len(items))
	}
	if stats, _ := st.Stats(); stats.Pending != 0 || stats.Sources != 1 {
		t.Fatalf("stats %+v: want no pending upload and one source", stats)
	}
	seen := map[string]bool{}
	for _, it := range items {
		h, content := openItem(t, st, it.ID, id)
		if h.ItemID != it.ID || h.Sequence != it.Seq || h.SourceID != it.Source || uint8(h.Kind) != uint8(it.Kind) {
			t.Errorf("item %d: envelope %+v does not match the store's record", it.Cursor, h)
		}
		switch h.Kind {
		case envelope.Message:
			seen[string(content)] = true
		case envelope.File:
			want, ok := files[h.Filename]
			if !ok || !bytes.Equal(content, want) {
				t.Errorf("file %q: %d bytes, known %v", h.Filename, len(content), ok)
			}
			seen[h.Filename] = true
			if h.Filename == "big.pdf" && h.MediaType != "application/pdf" {
				t.Errorf("media type %q", h.MediaType)
			}
		}
	}
	if len(seen) != 7 || !seen[message] || !seen["second visit"] {
		t.Fatalf("decrypted %v", seen)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}
