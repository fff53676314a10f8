package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/crypto/sourcekey"
	"sandyq/internal/testenv"
	"sandyq/server/store"
	"sandyq/server/web"
)

// submitServer is server/web's real handler on a real store, behind a
// recorder of the requests it gets, for runSubmit in --dev mode.
type submitServer struct {
	t        *testing.T
	st       *store.Store
	pepper   []byte
	identity *age.HybridIdentity // the newsroom's
	newsroom *sign.PrivateKey
	h        *web.Handler
	srv      *httptest.Server
	log      bytes.Buffer // the server's slog output (guarded by mu)

	mu       sync.Mutex
	requests []string                                          // "METHOD /path" of every request
	hook     func(w http.ResponseWriter, r *http.Request) bool // answers instead of the handler when it returns true
	raw      []byte                                            // the statement served (tests may change it)
}

func newSubmitServer(t *testing.T) *submitServer {
	t.Helper()
	s := &submitServer{t: t, pepper: make([]byte, sourcekey.PepperSize)}
	rand.Read(s.pepper)
	st, err := store.Open(filepath.Join(t.TempDir(), "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.st = st
	if s.newsroom, err = sign.Generate(rand.Reader, sign.Newsroom); err != nil {
		t.Fatal(err)
	}
	if s.identity, err = age.GenerateHybridIdentity(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set, err := recipients.NewSet(rand.Reader, []string{s.identity.Recipient().String()}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s.raw, err = set.Sign(s.newsroom); err != nil {
		t.Fatal(err)
	}
	h, err := web.New(web.Config{
		Store:  st,
		Pepper: s.pepper,
		KDF:    sourcekey.TestParams(),
		RecipientSet: func() (*recipients.Signed, []age.Recipient, error) {
			// The set the server verified when it was installed; the
			// bytes it serves are whatever raw holds now (tests tamper
			// with them).
			s.mu.Lock()
			raw := bytes.Clone(s.raw)
			s.mu.Unlock()
			r, err := set.AgeRecipients()
			return &recipients.Signed{Set: *set, Raw: raw}, r, err
		},
		Logger:   slog.New(slog.NewTextHandler(lockedWriter{&s.mu, &s.log}, nil)),
		DiskFree: func() (uint64, error) { return 1 << 50, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.h = h
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		hook := s.hook
		s.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		s.srv.Close()
		h.Close()
		if err := st.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		st.Close()
	})
	return s
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// seen returns the requests made so far and forgets them.
func (s *submitServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func (s *submitServer) serverLog() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// submit runs "sandyq submit --dev --server URL --newsroom-key KEY args…"
// in this process, with stdin, and returns stdout, stderr and the error.
func (s *submitServer) submit(stdin string, args ...string) (string, string, error) {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, rand: rand.Reader, getenv: func(string) string { return "" }}
	args = append([]string{"--dev", "--server", s.srv.URL, "--newsroom-key", s.newsroom.Public().String()}, args...)
	err := runSubmit(context.Background(), e, args)
	return stdout.String(), stderr.String(), err
}

// sourceOf derives the source ID of a codename as the server does.
func (s *submitServer) sourceOf(code string) [32]byte {
	s.t.Helper()
	k, err := sourcekey.Derive(code, s.pepper, sourcekey.TestParams())
	if err != nil {
		s.t.Fatal(err)
	}
	return k.SourceID
}

// decrypted is one stored item, opened with the newsroom identity.
type decrypted struct {
	item    store.Item
	header  envelope.Header
	content []byte
}

// items opens every item of the source with codename code, in sequence
// order, and checks each envelope against the store's record.
func (s *submitServer) items(code string) []decrypted {
	s.t.Helper()
	list, err := s.st.ItemsOf(s.sourceOf(code))
	if err != nil {
		s.t.Fatal(err)
	}
	var out []decrypted
	for _, it := range list {
		rc, err := s.st.OpenItem(it.ID)
		if err != nil {
			s.t.Fatal(err)
		}
		r, err := envelope.Open(rc, s.identity)
		if err != nil {
			s.t.Fatalf("item %x: %v", it.ID, err)
		}
		content, err := io.ReadAll(r)
		rc.Close()
		if err != nil {
			s.t.Fatalf("item %x: %v", it.ID, err)
		}
		h := r.Header
		if h.ItemID != it.ID || h.Sequence != it.Seq || h.SourceID != it.Source || uint8(h.Kind) != uint8(it.Kind) {
			s.t.Errorf("item %x: envelope header %+v does not match the store's record %+v", it.ID, h, it)
		}
		out = append(out, decrypted{item: it, header: h, content: content})
	}
	slices.SortFunc(out, func(a, b decrypted) int { return int(a.item.Seq) - int(b.item.Seq) })
	return out
}

func (s *submitServer) wantNoPending() {
	s.t.Helper()
	if st, err := s.st.Stats(); err != nil || st.Pending != 0 {
		s.t.Errorf("store stats %+v, %v: want no pending upload", st, err)
	}
}

// wantNoSecret fails if code appears, in any case, in any of outs or in
// the server log.
func (s *submitServer) wantNoSecret(code string, outs ...string) {
	s.t.Helper()
	for _, out := range append(outs, s.serverLog()) {
		if strings.Contains(strings.ToLower(out), code) {
			s.t.Errorf("the codename appears where it must not:\n%s", out)
		}
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubmitEndToEnd(t *testing.T) {
	s := newSubmitServer(t)
	dir := t.TempDir()
	report := bytes.Repeat([]byte("%PDF-1.7 a report that spans several age chunks\n"), 9000) // ~430 KiB
	photo := []byte("\xff\xd8\xff\xe0 not much of a photo")
	files := map[string][]byte{"Report 2026.pdf": report, "фото.jpg": photo}
	var paths []string
	for _, name := range []string{"Report 2026.pdf", "фото.jpg"} {
		paths = append(paths, writeFile(t, filepath.Join(dir), name, files[name]))
	}
	message := "A message from the command line\nwith two lines"
	stdout, stderr, err := s.submit("", append([]string{"-m", message}, paths...)...)
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, stderr)
	}
	if !strings.HasSuffix(stdout, "\n") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("stdout %q: want the codename alone on one line", stdout)
	}
	code := strings.TrimSuffix(stdout, "\n")
	if n, err := codename.Normalize(code); err != nil || n != code {
		t.Fatalf("stdout %q is not a normalised codename", stdout)
	}
	if !strings.Contains(stderr, "write down your codename") || !strings.Contains(stderr, "sent 3 items") {
		t.Errorf("stderr lacks the warning or the receipt:\n%s", stderr)
	}
	s.wantNoSecret(code, stderr)
	if got := s.seen(); !slices.Equal(got[:2], []string{"GET /api/v1/recipients", "POST /api/v1/session"}) ||
		got[len(got)-1] != "DELETE /api/v1/session" || len(got) != 3+2*3 {
		t.Errorf("requests %q", got)
	}

	items := s.items(code)
	if len(items) != 3 {
		t.Fatalf("%d items stored, want 3", len(items))
	}
	src := s.sourceOf(code)
	want := []struct {
		kind     envelope.Kind
		name, mt string
		content  []byte
	}{
		{envelope.Message, "", "", []byte(message)},
		{envelope.File, "Report 2026.pdf", "application/pdf", report},
		{envelope.File, "фото.jpg", "image/jpeg", photo},
	}
	for i, w := range want {
		got := items[i]
		if got.header.Kind != w.kind || got.header.Filename != w.name || got.header.MediaType != w.mt ||
			got.header.SourceID != src || !bytes.Equal(got.content, w.content) {
			t.Errorf("item %d: header %+v, %d bytes; want %q %q %d bytes", i, got.header, len(got.content), w.name, w.mt, len(w.content))
		}
		if got.item.Size != int64(len(mustCiphertext(t, s.st, got.item.ID))) {
			t.Errorf("item %d: recorded size %d", i, got.item.Size)
		}
	}
	s.wantNoPending()

	// A returning source: the codename from a file, the message from
	// stdin, one more file. Nothing on stdout.
	cf := writeFile(t, dir, "codename.txt", []byte("  "+strings.ToUpper(code)+"\n"))
	stdout, stderr, err = s.submit("second visit\n", "--codename-file", cf, "-m", "-", paths[1])
	if err != nil || stdout != "" {
		t.Fatalf("returning submit: %v, stdout %q\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "sent 2 items") || strings.Contains(stderr, "write down") {
		t.Errorf("returning source's stderr:\n%s", stderr)
	}
	s.wantNoSecret(code, stderr)
	items = s.items(code)
	if len(items) != 5 || string(items[3].content) != "second visit\n" || !bytes.Equal(items[4].content, photo) ||
		items[3].item.Seq <= items[2].item.Seq {
		t.Fatalf("after the second visit: %d items", len(items))
	}
	if st, _ := s.st.Stats(); st.Sources != 1 {
		t.Errorf("%d sources, want 1", st.Sources)
	}
	s.wantNoPending()
}

func mustCiphertext(t *testing.T, st *store.Store, id store.ItemID) []byte {
	t.Helper()
	rc, err := st.OpenItem(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSubmitRefusesBadSets: a set the newsroom key does not verify, or
// outside its window, is refused before anything is sent.
func TestSubmitRefusesBadSets(t *testing.T) {
	s := newSubmitServer(t)
	other, _ := sign.Generate(rand.Reader, sign.Newsroom)
	expired := func() []byte {
		set, _ := recipients.NewSet(rand.Reader, []string{s.identity.Recipient().String()},
			time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
		raw, _ := set.Sign(s.newsroom)
		return raw
	}()
	good := s.raw
	for _, tc := range []struct {
		name string
		key  string
		raw  []byte
		want string
	}{
		{"another newsroom key", other.Public().String(), good, "not signed by this newsroom key"},
		{"a recipient swapped", s.newsroom.Public().String(), swapRecipient(t, good), "not signed by this newsroom key"},
		{"signed by another key", s.newsroom.Public().String(), resign(t, good, other), "not signed by this newsroom key"},
		{"truncated", s.newsroom.Public().String(), good[:len(good)-10], "not signed by this newsroom key"},
		{"expired", s.newsroom.Public().String(), expired, "expired"},
	} {
		s.mu.Lock()
		s.raw = tc.raw
		s.mu.Unlock()
		var stdout, stderr bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, rand: rand.Reader, getenv: func(string) string { return "" }}
		err := runSubmit(context.Background(), e, []string{"--dev", "--server", s.srv.URL, "--newsroom-key", tc.key, "-m", "secret tip"})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was sent") {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
		if got := s.seen(); !slices.Equal(got, []string{"GET /api/v1/recipients"}) {
			t.Errorf("%s: requests %q, want only the recipient set fetched", tc.name, got)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q", tc.name, stdout.String())
		}
	}
	if st, _ := s.st.Stats(); st.Sources != 0 || st.Items != 0 {
		t.Fatalf("stats %+v: want nothing stored", st)
	}
}

// swapRecipient replaces the set's recipient line with another recipient.
func swapRecipient(t *testing.T, raw []byte) []byte {
	t.Helper()
	id, _ := age.GenerateHybridIdentity()
	lines := strings.SplitAfter(string(raw), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "recipient: ") {
			lines[i] = "recipient: " + id.Recipient().String() + "\n"
		}
	}
	return []byte(strings.Join(lines, ""))
}

// resign re-signs the set with key k, naming k as the signer.
func resign(t *testing.T, raw []byte, k *sign.PrivateKey) []byte {
	t.Helper()
	pub, err := sign.ParsePublicKey(signerOf(raw), sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := recipients.Parse(raw, pub)
	if err != nil {
		t.Fatal(err)
	}
	out, err := signed.Set.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func signerOf(raw []byte) string {
	for l := range strings.SplitSeq(string(raw), "\n") {
		if k, ok := strings.CutPrefix(l, "signer: "); ok {
			return k
		}
	}
	return ""
}

func TestSubmitCodenameInMessage(t *testing.T) {
	s := newSubmitServer(t)
	stdout, _, err := s.submit("", "-m", "first visit")
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(stdout)
	cf := writeFile(t, t.TempDir(), "codename", []byte(code))
	s.seen()
	msg := "my codename is " + strings.ToUpper(strings.ReplaceAll(code, " ", ", ")) + "!"
	stdout, stderr, err := s.submit("", "--codename-file", cf, "-m", msg)
	if err == nil || !strings.Contains(err.Error(), "contains your codename") {
		t.Fatalf("err %v", err)
	}
	if got := s.seen(); len(got) != 0 {
		t.Errorf("requests %q: want none", got)
	}
	s.wantNoSecret(code, stdout, stderr, err.Error())
	if items := s.items(code); len(items) != 1 {
		t.Errorf("%d items stored, want the first visit's only", len(items))
	}
}

// TestSubmitPartialFailure: when an upload fails after others were
// stored, a new source still gets its codename, and nothing stays pending.
func TestSubmitPartialFailure(t *testing.T) {
	s := newSubmitServer(t)
	var puts atomic.Int32
	s.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		if puts.Add(1) == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"server busy, try again later"}`)
			return true
		}
		return false
	}
	dir := t.TempDir()
	a := writeFile(t, dir, "a.txt", []byte("first"))
	b := writeFile(t, dir, "b.txt", []byte("second"))
	stdout, stderr, err := s.submit("", "-m", "the message", a, b)
	if err == nil || !strings.Contains(err.Error(), "item 2 of 3") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err %v", err)
	}
	code := strings.TrimSpace(stdout)
	if _, cerr := codename.Normalize(code); cerr != nil {
		t.Fatalf("stdout %q: want the codename, an item was stored", stdout)
	}
	if !strings.Contains(stderr, "sent 1 of 3 items") || !strings.Contains(stderr, "--codename-file") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if items := s.items(code); len(items) != 1 || string(items[0].content) != "the message" {
		t.Errorf("%d items stored, want the message only", len(items))
	}
	if got := s.seen(); got[len(got)-1] != "DELETE /api/v1/session" {
		t.Errorf("no logout at the end: %q", got)
	}
	s.wantNoPending()
	s.wantNoSecret(code, stderr, err.Error())

	// A failure before anything is stored prints no codename.
	puts.Store(1)
	stdout, _, err = s.submit("", a)
	if err == nil || stdout != "" {
		t.Errorf("nothing stored: err %v, stdout %q", err, stdout)
	}
}

// TestAgeSizeExact checks the size runSubmit announces against age's own
// output, around age's 64 KiB chunks, for both kinds of recipient set.
func TestAgeSizeExact(t *testing.T) {
	pq1, _ := age.GenerateHybridIdentity()
	pq2, _ := age.GenerateHybridIdentity()
	x1, _ := age.GenerateX25519Identity()
	x2, _ := age.GenerateX25519Identity()
	x3, _ := age.GenerateX25519Identity()
	for name, recips := range map[string][]age.Recipient{
		"one pq":  {pq1.Recipient()},
		"two pq":  {pq1.Recipient(), pq2.Recipient()},
		"x25519":  {x1.Recipient()},
		"three x": {x1.Recipient(), x2.Recipient(), x3.Recipient()},
	} {
		headerLen, err := ageHeaderLen(recips)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int64{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 128 << 10, 3*64<<10 + 5} {
			var c countWriter
			w, err := age.Encrypt(&c, recips...)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(make([]byte, n))
			w.Close()
			if want := headerLen + n + ageOverhead(n); int64(c) != want {
				t.Errorf("%s, %d bytes: age wrote %d, we announce %d", name, n, c, want)
			}
		}
	}
}

func TestContainsCodename(t *testing.T) {
	const code = "abacus abdomen abdominal abide abiding ability ablaze"
	for text, want := range map[string]bool{
		code:               true,
		"x " + code + " y": true,
		"ABACUS-abdomen abdominal abide abiding ability ablaze":         false, // "abacus-abdomen" is one word
		"Abacus, Abdomen; abdominal\nabide\tabiding ability ablaze.":    true,
		"abacus abdomen abdominal abide abiding ability":                false,
		"abacus abdomen abdominal abide abiding ability ablazed":        false,
		"xabacus abdomen abdominal abide abiding ability ablaze":        false,
		"abacus abdomen abdominal abide abiding ability abacus abdomen": false,
		"the abacus abdomen abdominal abide abiding ability ablaze":     true,
		"": false,
	} {
		if got := containsCodename([]byte(text), code); got != want {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
}

func TestMediaTypeOf(t *testing.T) {
	for name, want := range map[string]string{
		"a.pdf":       "application/pdf",
		"b.JPG":       "image/jpeg",
		"c":           "application/octet-stream",
		"d.no-such-x": "application/octet-stream",
	} {
		if got := mediaTypeOf(name); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
}

// TestSealChecksSize: a file that grows or shrinks while it is sent, or a
// wrong announced size, fails the upload instead of sending something else.
func TestSealChecksSize(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	recips := []age.Recipient{id.Recipient()}
	headerLen, err := ageHeaderLen(recips)
	if err != nil {
		t.Fatal(err)
	}
	h := &envelope.Header{Kind: envelope.File, Filename: "f", MediaType: "text/plain"}
	sizeOf := func(n int64) int64 { p := envelope.PaddedSize(h, n); return headerLen + p + ageOverhead(p) }
	var out bytes.Buffer
	if err := seal(&out, h, recips, strings.NewReader("abcd"), 4, sizeOf(4)); err != nil || int64(out.Len()) != sizeOf(4) {
		t.Fatalf("seal: %v, %d bytes", err, out.Len())
	}
	for name, tc := range map[string]struct {
		content   string
		n, size   int64
		wantError string
	}{
		"grew":       {"abcde", 4, sizeOf(4), "changed size"},
		"shrank":     {"abc", 4, sizeOf(4), "changed size"},
		"wrong size": {"abcd", 4, sizeOf(4) + 1, "not the"},
	} {
		if err := seal(io.Discard, h, recips, strings.NewReader(tc.content), tc.n, tc.size); err == nil || !strings.Contains(err.Error(), tc.wantError) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.wantError)
		}
	}
}

// TestSubmitItemDecryptsWithAge: what sandyq submit uploads is a plain age
// file, which the age command decrypts to the envelope.
func TestSubmitItemDecryptsWithAge(t *testing.T) {
	ageBin := testenv.RequireBinary(t, "age", "go install filippo.io/age/cmd/...@v1.3.2")
	s := newSubmitServer(t)
	dir := t.TempDir()
	content := bytes.Repeat([]byte("interoperable "), 10000)
	stdout, stderr, err := s.submit("", writeFile(t, dir, "notes.txt", content))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	items := s.items(strings.TrimSpace(stdout))
	if len(items) != 1 {
		t.Fatalf("%d items", len(items))
	}
	idFile := writeFile(t, dir, "identity.txt", []byte(s.identity.String()+"\n"))
	cmd := exec.Command(ageBin, "-d", "-i", idFile)
	cmd.Stdin = bytes.NewReader(mustCiphertext(t, s.st, items[0].item.ID))
	plain, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	r, err := envelope.NewReader(bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, content) || r.Header.Filename != "notes.txt" {
		t.Fatalf("age -d gave an envelope of %q with %d bytes (%v)", r.Header.Filename, len(got), err)
	}
}
