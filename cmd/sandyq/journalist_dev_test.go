package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sandyq/client/accesskey"
	"sandyq/client/bundle"
	"sandyq/server/store"
)

// devServe starts "sandyq serve" with both dev listeners and returns the
// two base URLs.
func devServe(t *testing.T, bin, dir string) (*serveProc, string, string) {
	t.Helper()
	p := &serveProc{dir: dir, stderr: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "-d", dir, "--kdf-test",
		"--dev-listen", "127.0.0.1:0", "--dev-journalist-listen", "127.0.0.1:0")
	p.cmd.Env = sandyqEnv()
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	sc := bufio.NewScanner(out)
	var urls []string
	for len(urls) < 2 && sc.Scan() {
		urls = append(urls, strings.TrimSuffix(sc.Text(), "/"))
	}
	go io.Copy(io.Discard, out)
	if len(urls) != 2 {
		t.Fatalf("serve printed %q; stderr:\n%s", urls, p.stderr.Bytes())
	}
	// Wait for the control socket.
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, "control.sock")); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("no control socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, urls[0], urls[1]
}

func writeKey(t *testing.T, dir, name string) (*accesskey.Key, string, string) {
	t.Helper()
	k, err := accesskey.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec, pub := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(sec, []byte(k.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, []byte(k.Public()), 0o644); err != nil {
		t.Fatal(err)
	}
	return k, sec, pub
}

// sandyqRun runs sandyq and returns stdout, stderr and the exit code.
func sandyqRun(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = sandyqEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestJournalistDev drives the journalist workflow against a running
// server in development mode (no tor): registration and revocation through
// the control socket while serving, fetch and ack, push.
func TestJournalistDev(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	_, aliceKey, alicePub := writeKey(t, work, "alice")
	bob, bobKey, bobPub := writeKey(t, work, "bob")

	// Bad registrations change nothing (no server: direct mode).
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"journalist", "add", "alice", aliceKey}, "SECRET key file"},
		{[]string{"journalist", "add", "al ice", alicePub}, "name"},
		{[]string{"journalist", "revoke", "nobody"}, "no such journalist"},
		{[]string{"journalist", "add", "alice"}, "usage"},
	} {
		_, stderr, code := sandyqRun(t, bin, append([]string{"admin", "-d", dir}, c.args...)...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("admin %v: exit %d, stderr %q; want failure with %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(stderr, "SANDYQ-ACCESS-SECRET") {
			t.Errorf("admin %v echoed a secret key", c.args)
		}
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "journalist", "add", "alice", alicePub); code != 0 {
		t.Fatalf("add alice: %s", stderr)
	}

	// Two submissions in the store, then serve.
	st, err := store.Open(filepath.Join(dir, "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := store.SourceID{1}
	st.CreateSource(src, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	for range 2 {
		w, _ := st.NewItem(src, store.KindMessage, [16]byte{1})
		w.Write([]byte("age-encryption.org/v1\nopaque"))
		if _, err := st.Commit(w); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	srv, _, japiURL := devServe(t, bin, dir)
	fetch := func(key, out string) (string, int) {
		_, stderr, code := sandyqRun(t, bin, "fetch", "--dev", "--server", japiURL, "--access-key", key, "-o", out)
		return stderr, code
	}
	b1 := filepath.Join(work, "1.bundle")
	if stderr, code := fetch(aliceKey, b1); code != 0 || !strings.Contains(stderr, "fetched 2 items from 1 sources") {
		t.Fatalf("first fetch: exit %d\n%s", code, stderr)
	}
	if fi, err := os.Stat(b1); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v %v", fi, err)
	}
	if stderr, code := fetch(aliceKey, filepath.Join(work, "2.bundle")); code != 0 || !strings.Contains(stderr, "nothing new") {
		t.Fatalf("second fetch: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(work, "2.bundle")); err == nil {
		t.Fatal("an empty fetch wrote a bundle")
	}
	if stderr, code := fetch(aliceKey, b1); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("fetch onto an existing file: exit %d\n%s", code, stderr)
	}

	// Bob: refused, registered while serving, fetches, revoked, refused.
	if stderr, code := fetch(bobKey, filepath.Join(work, "b0.bundle")); code != 1 || !strings.Contains(stderr, "not authorised") {
		t.Fatalf("unregistered fetch: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "journalist", "add", "bob", bobPub); code != 0 {
		t.Fatalf("add bob while serving: %s", stderr)
	}
	if stderr, code := fetch(bobKey, filepath.Join(work, "b1.bundle")); code != 0 {
		t.Fatalf("bob's fetch: %s", stderr)
	}
	out, _, _ := sandyqRun(t, bin, "admin", "-d", dir, "journalist", "list")
	if !regexp.MustCompile(`(?s)alice .*cursor 2.*bob .*cursor 2`).MatchString(out) {
		t.Fatalf("journalist list:\n%s", out)
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "journalist", "revoke", "bob"); code != 0 {
		t.Fatalf("revoke bob: %s", stderr)
	}
	if stderr, code := fetch(bobKey, filepath.Join(work, "b2.bundle")); code != 1 || !strings.Contains(stderr, "not authorised") {
		t.Fatalf("revoked fetch: exit %d\n%s", code, stderr)
	}

	// A reply bundle signed by bob's (revoked) key, pushed by alice: refused
	// locally before any upload; signed by alice: stored.
	reply := append([]byte("age-encryption.org/v1\n"), "reply"...)
	mk := func(k *accesskey.Key, name string) string {
		m := &bundle.Manifest{Type: bundle.Replies, Replies: []bundle.Reply{{ID: [16]byte{7}, Source: src, Size: int64(len(reply)), SHA256: sha256.Sum256(reply)}}}
		var buf bytes.Buffer
		w, err := bundle.NewWriter(&buf, m, k.Access)
		if err != nil {
			t.Fatal(err)
		}
		w.Next()
		if err := w.WriteItem(bytes.NewReader(reply)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		p := filepath.Join(work, name)
		os.WriteFile(p, buf.Bytes(), 0o600)
		return p
	}
	if _, stderr, code := sandyqRun(t, bin, "push", "--dev", "--server", japiURL, "--access-key", aliceKey, mk(bob, "bob.reply")); code != 1 || !strings.Contains(stderr, "does not verify") {
		t.Fatalf("push of another key's bundle: exit %d\n%s", code, stderr)
	}
	aliceK, _ := os.ReadFile(aliceKey)
	ak, _ := accesskey.Parse(string(aliceK))
	rb := mk(ak, "alice.reply")
	for i, want := range []string{"stored 1 of 1 replies (0 were", "stored 0 of 1 replies (1 were"} {
		if _, stderr, code := sandyqRun(t, bin, "push", "--dev", "--server", japiURL, "--access-key", aliceKey, rb); code != 0 || !strings.Contains(stderr, want) {
			t.Fatalf("push %d: exit %d\n%s", i+1, code, stderr)
		}
	}
	srv.stop(t)
	st, err = store.Open(filepath.Join(dir, "sandyq.db"), &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if reps, _ := st.Replies(src); len(reps) != 1 {
		t.Fatalf("%d replies stored, want 1", len(reps))
	}
	if items, _ := st.ListItems(0, 0); !items[0].Fetched || !items[1].Fetched {
		t.Fatal("fetched items not marked fetched")
	}
	if bytes.Contains(srv.stderr.Bytes(), []byte("sandyq-access1")) {
		t.Fatal("the server logged an access key")
	}
}
