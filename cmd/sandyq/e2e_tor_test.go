package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/crypto/sourcekey"
	"sandyq/internal/browser"
	"sandyq/internal/tortest"
	"sandyq/server/store"
)

// TestSourceOverTor is the end-to-end test of the source's path: a real
// "sandyq serve" publishing its onion service on a private Tor network, a
// real headless Chromium with JavaScript off reaching it through tor, a new
// codename, a submission of a message and two files (one over 20 MiB),
// then, with the server stopped, the store read back and decrypted with the
// journalist's identity; a reply placed in the store is read and deleted by
// the source after a restart of the server.
func TestSourceOverTor(t *testing.T) {
	tortest.Require(t)
	browser.Require(t)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.1fs  %s", time.Since(begin).Seconds(), what) }

	n := torNet.Get(t)
	step("tor network up")
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	childTmp := filepath.Join(work, "child-tmp") // TMPDIR of every sandyq process
	if err := os.Mkdir(childTmp, 0o700); err != nil {
		t.Fatal(err)
	}
	torrc := filepath.Join(work, "testnet.torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(n.TorrcLines(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A data directory with a pinned newsroom key and a signed set of one
	// journalist's post-quantum recipient.
	initOut := runSandyq(t, bin, childTmp, "init", "-d", dir)
	initURL := regexp.MustCompile(`(?m)^http://[a-z2-7]{56}\.onion/$`).Find(initOut)
	if initURL == nil {
		t.Fatalf("sandyq init printed no onion address:\n%s", initOut)
	}
	newsroom, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	journalist, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set, err := recipients.NewSet(rand.Reader, []string{journalist.Recipient().String()}, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := set.Sign(newsroom)
	if err != nil {
		t.Fatal(err)
	}
	setFile := filepath.Join(work, "set.txt")
	if err := os.WriteFile(setFile, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	runSandyq(t, bin, childTmp, "admin", "-d", dir, "newsroom", "pin", newsroom.Public().String())
	runSandyq(t, bin, childTmp, "admin", "-d", dir, "recipients", "install", setFile)

	// What the source sends.
	marker := "SANDYQ-E2E-MARKER-" + randHex(t, 16)
	message := "Hello from the end-to-end test.\n" + marker + "\nLast line, no newline"
	small := filepath.Join(work, "notes-"+randHex(t, 4)+".txt")
	smallData := []byte("a small text file\n" + marker + "\n")
	if err := os.WriteFile(small, smallData, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(work, "big-"+randHex(t, 4)+".bin")
	bigData := make([]byte, 20<<20+12345)
	if _, err := rand.Read(bigData); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bigData, []byte(marker)) {
		t.Fatal("random file contains the marker") // never happens
	}
	if err := os.WriteFile(big, bigData, 0o600); err != nil {
		t.Fatal(err)
	}

	// Serve, and wait until the onion service answers through the network's
	// client (which the browser uses too).
	srv := startServe(t, bin, dir, torrc, childTmp)
	onionURL := srv.url
	if onionURL != string(initURL) {
		t.Fatalf("sandyq serve published %s, but init announced %s", onionURL, initURL)
	}
	step("sandyq serve published " + onionURL)
	warmUp(t, n.Get, onionURL)
	step("onion service reachable")

	b := browser.Start(t, browser.Options{SocksProxy: n.SocksAddr(), Timeout: 3 * time.Minute})
	navigate(t, b, onionURL)
	mustSubmit(t, b, `main a.button[href$="/new"]`)
	mustSubmit(t, b, "main form button[type=submit]")
	html, err := b.HTML()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<p class="codename"[^>]*>([^<]*)</p>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no codename on the page (status %d)", b.Status())
	}
	code := strings.TrimSpace(m[1])
	if got := len(strings.Fields(code)); got != codename.Words {
		t.Fatalf("codename has %d words, want %d", got, codename.Words)
	}
	text := pageText(t, b)
	if !strings.Contains(text, code) {
		t.Fatal("codename is not in the visible text of the page")
	}
	if err := b.SetChecked("input[name=saved]", true); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b, "main form button[type=submit]")
	if u, _ := b.URL(); !strings.HasSuffix(u, "/submit") {
		t.Fatalf("after confirming the codename: at %s, want the submit page", u)
	}
	step("codename made and confirmed")

	if err := b.SetValue("textarea[name=message]", message); err != nil {
		t.Fatal(err)
	}
	if err := b.SetFiles("#file1", small, big); err != nil {
		t.Fatal(err)
	}
	upload := time.Now()
	mustSubmit(t, b, "main form button[type=submit]")
	step("submitted in " + time.Since(upload).Round(time.Millisecond).String())
	if b.Status() != 200 {
		t.Fatalf("receipt: status %d", b.Status())
	}
	text = pageText(t, b)
	for _, want := range []string{"Received", "Stored safely: 1 message(s), 2 file(s)."} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt page lacks %q:\n%s", want, text)
		}
	}
	shot := filepath.Join(t.ArtifactDir(), "receipt.png")
	if err := b.Screenshot(shot); err != nil {
		t.Error(err)
	} else {
		t.Logf("receipt screenshot: %s", shot)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Stop the server and read the store as a journalist would.
	srv.stop(t)
	step("server stopped")
	pepper, err := os.ReadFile(filepath.Join(dir, "pepper"))
	if err != nil {
		t.Fatal(err)
	}
	norm, err := codename.Normalize(code)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sourcekey.Derive(norm, pepper, sourcekey.TestParams())
	if err != nil {
		t.Fatal(err)
	}
	srcID := store.SourceID(keys.SourceID)
	st, err := store.Open(filepath.Join(dir, "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	stClosed := false
	defer func() {
		if !stClosed {
			st.Close()
		}
	}()
	items, err := st.ItemsOf(srcID)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("source has %d items, want 3", len(items))
	}
	wantMessage := strings.ReplaceAll(message, "\n", "\r\n") // textarea line breaks are sent as CRLF
	wantFiles := map[string][]byte{filepath.Base(small): smallData, filepath.Base(big): bigData}
	var messages, files int
	for _, it := range items {
		h, content := openItem(t, st, it.ID, journalist)
		if h.SourceID != keys.SourceID || h.ItemID != it.ID || h.Sequence != it.Seq || uint8(h.Kind) != uint8(it.Kind) {
			t.Errorf("item %s: envelope header does not match the store's record", it.ID)
		}
		switch h.Kind {
		case envelope.Message:
			messages++
			if string(content) != wantMessage {
				t.Errorf("message differs: got %q, want %q", content, wantMessage)
			}
		case envelope.File:
			files++
			want, ok := wantFiles[h.Filename]
			if !ok {
				t.Errorf("file item with unexpected filename %q", h.Filename)
				continue
			}
			delete(wantFiles, h.Filename)
			if !bytes.Equal(content, want) {
				t.Errorf("file %q differs: got %d bytes, want %d", h.Filename, len(content), len(want))
			}
		default:
			t.Errorf("item %s of unexpected kind %d", it.ID, h.Kind)
		}
	}
	if messages != 1 || files != 2 || len(wantFiles) != 0 {
		t.Errorf("got %d messages and %d files (missing %d), want 1 and 2", messages, files, len(wantFiles))
	}
	step("store read back and decrypted")

	// Neither the marker nor the codename may be anywhere in plaintext.
	secrets := map[string][]byte{"marker": []byte(marker), "codename": []byte(code)}
	scanTree(t, dir, secrets)
	scanTree(t, childTmp, secrets)
	scanBytes(t, "server stderr", srv.stderr.Bytes(), secrets)

	// A journalist's reply, sealed to the source's reply recipient.
	src, err := st.Source(srcID)
	if err != nil {
		t.Fatal(err)
	}
	if src.ReplyRecipient != keys.ReplyRecipient() {
		t.Fatal("stored reply recipient is not the one derived from the codename")
	}
	rr, err := age.ParseHybridRecipient(src.ReplyRecipient)
	if err != nil {
		t.Fatal(err)
	}
	replyText := "A reply from a journalist " + randHex(t, 8)
	var ct bytes.Buffer
	var replyItemID [16]byte
	rand.Read(replyItemID[:])
	w, err := envelope.Seal(&ct, &envelope.Header{ItemID: replyItemID, SourceID: keys.SourceID, Kind: envelope.Reply}, rr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, replyText)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReplies([]store.NewReply{{Source: srcID, ID: replyItemID, Data: ct.Bytes()}}); err != nil {
		t.Fatal(err)
	}
	stClosed = true
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the same onion address comes back. A client that already
	// has the old descriptor would not refetch it for 15 minutes, so the
	// source comes back through a fresh tor client.
	srv2 := startServe(t, bin, dir, torrc, childTmp)
	if srv2.url != onionURL {
		t.Fatalf("after restart the service is at %s, was %s", srv2.url, onionURL)
	}
	step("server restarted at the same address")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	client, err := n.StartClient(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	warmUp(t, client.Get, onionURL)
	step("fresh client reached the restarted service")

	b2 := browser.Start(t, browser.Options{SocksProxy: client.SocksAddr(), Timeout: 3 * time.Minute})
	navigate(t, b2, onionURL)
	mustSubmit(t, b2, `main a.button[href$="/login"]`)
	if err := b2.SetValue("#codename", code); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b2, "main form button[type=submit]")
	if u, _ := b2.URL(); !strings.HasSuffix(u, "/submit") {
		t.Fatalf("after login: at %s (status %d), want the submit page", u, b2.Status())
	}
	mustSubmit(t, b2, `nav a[href$="/replies"]`)
	text = pageText(t, b2)
	if !strings.Contains(text, "Replies from journalists") || strings.Contains(text, "There are no replies yet") {
		t.Fatalf("replies page does not list the reply:\n%s", text)
	}
	mustSubmit(t, b2, `main a[href*="/replies/"]`)
	text = pageText(t, b2)
	if !strings.Contains(text, replyText) {
		t.Fatalf("reply page does not show the reply text:\n%s", text)
	}
	mustSubmit(t, b2, "main form button[type=submit]") // "Delete this reply"
	text = pageText(t, b2)
	if !strings.Contains(text, "There are no replies yet") || strings.Contains(text, replyText) {
		t.Fatalf("after deleting, the replies page still shows a reply:\n%s", text)
	}
	step("reply read and deleted by the source")
	if err := b2.Close(); err != nil {
		t.Error(err)
	}
	srv2.stop(t)

	st, err = store.Open(filepath.Join(dir, "sandyq.db"), &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	stClosed = false
	if reps, err := st.Replies(srcID); err != nil || len(reps) != 0 {
		t.Errorf("after deletion the store holds %d replies (err %v), want 0", len(reps), err)
	}
	scanBytes(t, "server stderr after restart", srv2.stderr.Bytes(), map[string][]byte{
		"marker": []byte(marker), "codename": []byte(code), "reply text": []byte(replyText)})
	step("done")
}

// runSandyq runs a short sandyq command and fails the test if it fails.
func runSandyq(t *testing.T, bin, tmp string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = sandyqEnv("TMPDIR=" + tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sandyq %s: %v\n%s", strings.Join(args[:min(len(args), 4)], " "), err, out)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// serveProc is a running "sandyq serve".
type serveProc struct {
	cmd    *exec.Cmd
	dir    string
	url    string // the source onion, first line of stdout
	jurl   string // the journalist onion, second line
	stderr *syncBuffer
	done   chan struct{}
	err    error
	once   sync.Once
}

// startServe starts "sandyq serve" on the private network and returns once
// it printed its two onion URLs (at most 3 minutes). The test's cleanup
// stops it.
func startServe(t *testing.T, bin, dir, torrc, tmp string) *serveProc {
	t.Helper()
	return startServing(t, bin, dir, tmp, "serve", "-d", dir, "--torrc", torrc, "--kdf-test")
}

// startServing starts sandyq with args (a command that serves dir) and
// returns once it printed its two onion URLs.
func startServing(t *testing.T, bin, dir, tmp string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{dir: dir, stderr: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = sandyqEnv("TMPDIR=" + tmp)
	p.cmd.Stderr = p.stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	lines := make(chan string, 2)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		for range 2 {
			if sc.Scan() {
				lines <- sc.Text()
			}
		}
		close(lines)
		io.Copy(io.Discard, r)
	}()
	timeout := time.After(3 * time.Minute)
	for _, dst := range []*string{&p.url, &p.jurl} {
		select {
		case line, ok := <-lines:
			if !ok {
				<-p.done
				t.Fatalf("sandyq serve exited before printing its addresses (%v); stderr:\n%s", p.err, p.stderr.Bytes())
			}
			if !regexp.MustCompile(`^http://[a-z2-7]{56}\.onion/$`).MatchString(line) {
				t.Fatalf("sandyq serve printed %q, want http://<v3 onion>/", line)
			}
			*dst = line
		case <-timeout:
			t.Fatalf("sandyq serve printed no addresses within 3 minutes; stderr:\n%s", p.stderr.Bytes())
		}
	}
	return p
}

// waitStderr waits up to 10 s for text in the process's stderr, which is
// copied by another goroutine than its stdout.
func (p *serveProc) waitStderr(t *testing.T, text string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !bytes.Contains(p.stderr.Bytes(), []byte(text)); {
		if time.Now().After(deadline) {
			t.Fatalf("stderr lacks %q:\n%s", text, p.stderr.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, waits up to 20 s, then kills; it then checks that no
// process (such as its tor) is left running on the data directory.
func (p *serveProc) stop(t *testing.T) {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("sandyq serve: %v; stderr:\n%s", p.err, p.stderr.Bytes())
			}
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("sandyq serve did not stop within 20 s of SIGTERM; killed")
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := processesUsing(p.dir)
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				for _, pid := range left {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Errorf("processes %v still ran on %s 10 s after sandyq serve exited; killed", left, p.dir)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// processesUsing returns the pids of the processes (other than this one)
// whose command line mentions dir.
func processesUsing(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(dir)) {
			if s, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
				if f := strings.Fields(string(s[bytes.LastIndexByte(s, ')')+1:])); len(f) > 0 && f[0] == "Z" {
					continue // a zombie waiting for its parent
				}
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// warmUp fetches url through a tor client until the onion service answers
// (at most 2 minutes), so that the browser's first navigation finds it.
func warmUp(t *testing.T, get func(context.Context, string) (int, []byte, error), url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		code, _, err := get(ctx, url)
		if err == nil && code < 500 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("onion service did not answer within 2 minutes: status %d, %v", code, err)
		}
		time.Sleep(time.Second)
	}
}

// navigate loads url, retrying for up to 60 s while tor cannot reach it yet.
func navigate(t *testing.T, b *browser.Browser, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := b.Navigate(url)
		if err == nil && b.Status() == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("navigating to the onion service: status %d, %v", b.Status(), err)
		}
		time.Sleep(2 * time.Second)
	}
}

func mustSubmit(t *testing.T, b *browser.Browser, selector string) {
	t.Helper()
	if err := b.Submit(selector); err != nil {
		u, _ := b.URL()
		t.Fatalf("clicking %s on %s: %v", selector, u, err)
	}
}

func pageText(t *testing.T, b *browser.Browser) string {
	t.Helper()
	s, err := b.Text()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openItem decrypts an item with the journalist's identity and reads it to
// its verified end.
func openItem(t *testing.T, st *store.Store, id store.ItemID, ids ...age.Identity) (*envelope.Header, []byte) {
	t.Helper()
	rc, err := st.OpenItem(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r, err := envelope.Open(rc, ids...)
	if err != nil {
		t.Fatalf("opening item %s: %v", id, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading item %s: %v", id, err)
	}
	return &r.Header, b
}

// scanTree fails the test if any regular file under root contains one of
// the secrets.
func scanTree(t *testing.T, root string, secrets map[string][]byte) {
	t.Helper()
	nfiles := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		nfiles++
		scanBytes(t, path, b, secrets)
		return nil
	})
	if err != nil {
		t.Errorf("scanning %s: %v", root, err)
	}
	t.Logf("scanned %d files under %s", nfiles, root)
}

func scanBytes(t *testing.T, where string, b []byte, secrets map[string][]byte) {
	t.Helper()
	for name, s := range secrets {
		if bytes.Contains(b, s) {
			t.Errorf("the %s appears in plaintext in %s", name, where)
		}
	}
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
