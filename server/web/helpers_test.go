package web

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sourcekey"
	"sandyq/server/store"
)

// syncBuffer is a bytes.Buffer safe for concurrent use: the captured log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a handler on a real store with a test recipient set, served by
// NewServer on a loopback listener.
type env struct {
	t        testing.TB
	dir      string
	store    *store.Store
	pepper   []byte
	identity *age.X25519Identity // the newsroom's, to check what was stored
	h        *Handler
	srv      *httptest.Server
	log      *syncBuffer
}

// envOption adjusts the configuration before New.
type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), log: new(syncBuffer)}
	st, err := store.Open(filepath.Join(e.dir, "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	e.pepper = make([]byte, sourcekey.PepperSize)
	rand.Read(e.pepper)
	e.identity, err = age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set, err := recipients.NewSet(rand.Reader, []string{e.identity.Recipient().String()},
		now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	signed := &recipients.Signed{Set: *set, Raw: []byte("signed statement of set " + set.IDString() + "\n")}
	cfg := Config{
		Store:  st,
		Pepper: e.pepper,
		KDF:    sourcekey.TestParams(),
		RecipientSet: func() (*recipients.Signed, []age.Recipient, error) {
			return signed, []age.Recipient{e.identity.Recipient()}, nil
		},
		Logger:   slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DiskFree: func() (uint64, error) { return 1 << 50, nil },
		Limits: Limits{
			NewCodenamesPerMinute: 10000,
			LoginsPerMinute:       10000,
			MaxSubmission:         8 << 20,
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.Config = NewServer(h, cfg.Limits)
	e.srv.Start()
	t.Cleanup(func() {
		e.srv.Close()
		if err := st.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
		st.Close()
	})
	return e
}

func withClock(c *fakeClock) envOption {
	return func(cfg *Config) { cfg.Now = c.Now }
}

func withLimits(fn func(*Limits)) envOption {
	return func(cfg *Config) { fn(&cfg.Limits) }
}

// browser is one visitor with its own cookie jar.
type browser struct {
	t    testing.TB
	e    *env
	c    *http.Client
	lang string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, lang: "en", c: &http.Client{
		Jar:     jar,
		Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, v url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	codenameRE = regexp.MustCompile(`<p class="codename" lang="en">([^<]+)</p>`)
)

// csrf fetches page and returns the CSRF token of its form.
func (b *browser) csrf(page string) string {
	b.t.Helper()
	resp, body := b.get(page)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: status %d, no CSRF token", page, resp.StatusCode)
	}
	return m[1]
}

// newSource gets a codename through the pages and confirms it, leaving b
// logged in. It returns the codename.
func (b *browser) newSource() string {
	b.t.Helper()
	resp, body := b.post("/en/new", url.Values{"csrf": {b.csrf("/en/new")}})
	m := codenameRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("POST /en/new: status %d, no codename", resp.StatusCode)
	}
	tok := csrfRE.FindStringSubmatch(body)[1]
	resp, _ = b.post("/en/new/confirm", url.Values{"csrf": {tok}, "saved": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/en/submit" {
		b.t.Fatalf("POST /en/new/confirm: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return m[1]
}

// login logs b in with a codename and reports the status.
func (b *browser) login(name string) int {
	b.t.Helper()
	resp, _ := b.post("/en/login", url.Values{"csrf": {b.csrf("/en/login")}, "codename": {name}})
	return resp.StatusCode
}

// cookie returns b's session cookie value ("" if none).
func (b *browser) cookie() string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// part is one multipart part, written by hand so tests control every byte.
type part struct {
	name        string
	filename    *string // nil: a text field
	star        bool    // send the filename as filename*=UTF-8''percent-encoded
	contentType string
	body        []byte
	rawHeader   string // if set, replaces the generated header lines
}

func field(name, value string) part { return part{name: name, body: []byte(value)} }

func file(filename string, body []byte) part {
	return part{name: "file", filename: &filename, contentType: "application/octet-stream", body: body}
}

const testBoundary = "sandyqTestBoundary7MA4YWxkTrZu0gW"

func multipartBody(parts ...part) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\r\n", testBoundary)
		if p.rawHeader != "" {
			b.WriteString(p.rawHeader)
		} else {
			fmt.Fprintf(&b, `Content-Disposition: form-data; name="%s"`, p.name)
			if p.filename != nil {
				if p.star {
					fmt.Fprintf(&b, `; filename*=UTF-8''%s`, percentEncode(*p.filename))
				} else {
					fmt.Fprintf(&b, `; filename="%s"`, *p.filename)
				}
			}
			b.WriteString("\r\n")
			if p.contentType != "" {
				fmt.Fprintf(&b, "Content-Type: %s\r\n", p.contentType)
			}
		}
		b.WriteString("\r\n")
		b.Write(p.body)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", testBoundary)
	return b.Bytes()
}

func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// submitRaw posts body as a submission with the given Content-Type.
func (b *browser) submitRaw(contentType string, body io.Reader) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+"/"+b.lang+"/submit", body)
	req.Header.Set("Content-Type", contentType)
	return b.do(req)
}

// submit posts parts as a submission.
func (b *browser) submit(parts ...part) (*http.Response, string) {
	b.t.Helper()
	return b.submitRaw("multipart/form-data; boundary="+testBoundary, bytes.NewReader(multipartBody(parts...)))
}

// sourceID derives the source ID of a codename as the handler does.
func (e *env) sourceID(name string) store.SourceID {
	e.t.Helper()
	n, err := codename.Normalize(name)
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := sourcekey.Derive(n, e.pepper, sourcekey.TestParams())
	if err != nil {
		e.t.Fatal(err)
	}
	return store.SourceID(k.SourceID)
}

func (e *env) keys(name string) *sourcekey.Keys {
	e.t.Helper()
	n, _ := codename.Normalize(name)
	k, err := sourcekey.Derive(n, e.pepper, sourcekey.TestParams())
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// items returns the committed items of the source with codename name.
func (e *env) items(name string) []store.Item {
	e.t.Helper()
	items, err := e.store.ItemsOf(e.sourceID(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return items
}

// allItems returns every committed item.
func (e *env) allItems() []store.Item {
	e.t.Helper()
	items, err := e.store.ListItems(0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	return items
}

// open decrypts a stored item with the newsroom identity and checks it
// to its end.
func (e *env) open(it store.Item) (*envelope.Header, []byte) {
	e.t.Helper()
	rc, err := e.store.OpenItem(it.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	r, err := envelope.Open(rc, e.identity)
	if err != nil {
		e.t.Fatalf("opening item: %v", err)
	}
	content, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("reading item: %v", err)
	}
	if it.Kind != store.Kind(r.Header.Kind) || it.Source != store.SourceID(r.Header.SourceID) ||
		it.ID != store.ItemID(r.Header.ItemID) || it.Seq != r.Header.Sequence {
		e.t.Fatalf("item metadata does not match its envelope header")
	}
	return &r.Header, content
}

// wantNoItems fails unless the store holds no committed item at all.
func (e *env) wantNoItems() {
	e.t.Helper()
	if items := e.allItems(); len(items) != 0 {
		e.t.Errorf("store holds %d items, want none", len(items))
	}
}

// heapPeak samples HeapInuse every interval until the returned stop func is
// called; stop returns the peak seen.
func heapPeak(interval time.Duration) (stop func() uint64) {
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-time.After(interval):
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return peak.Load()
	}
}
