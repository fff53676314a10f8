package browser

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testTimeout bounds each browser operation in these tests.
const testTimeout = 30 * time.Second

// hits counts the requests that a test server received, by path.
type hits struct {
	mu    sync.Mutex
	paths []string
}

func (h *hits) add(p string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paths = append(h.paths, p)
}

func (h *hits) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...)
}

// serve starts an HTTP server on 127.0.0.1 that answers the paths of pages
// with their HTML, records every request and answers 404 to other paths.
func serve(t *testing.T, pages map[string]string) (*httptest.Server, *hits) {
	t.Helper()
	h := new(hits)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.add(r.URL.Path)
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, h
}

const scriptPage = `<!doctype html>
<html><head><title>original title</title>
<script src="/external.js"></script>
</head>
<body onload="new Image().src='/ran-onload'">
<p id="p">static text</p>
<noscript><p>NOSCRIPT IS SHOWN</p></noscript>
<img src="/pixel" alt="" onerror="new Image().src='/ran-onerror'">
<iframe src="/frame"></iframe>
<a id="next" href="/second">next page</a>
<script>
document.title = "changed by script";
document.getElementById("p").textContent = "changed by script";
document.cookie = "js=ran";
new Image().src = "/ran-inline";
</script>
</body></html>`

const secondPage = `<!doctype html><title>second</title><body><p id="p">second page</p>
<script>document.body.textContent = "changed by script"; new Image().src = "/ran-second";</script>`

// TestScriptsDisabled checks that no script of any kind runs: inline,
// external, event handler attributes, in a frame, and on a page reached by
// a click. Each would change the page or fetch a /ran-… URL.
func TestScriptsDisabled(t *testing.T) {
	srv, h := serve(t, map[string]string{
		"/":            scriptPage,
		"/second":      secondPage,
		"/external.js": `document.title = "changed by external script"; new Image().src = "/ran-external";`,
		"/frame":       `<p>frame</p><script>new Image().src = "/ran-frame"; parent.document.title = "changed by frame";</script>`,
	})
	b := Start(t, Options{Timeout: testTimeout})
	if err := b.Navigate(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	if got := b.Status(); got != http.StatusOK {
		t.Errorf("Status() = %d, want 200", got)
	}
	title, err := b.Title()
	if err != nil {
		t.Fatal(err)
	}
	if title != "original title" {
		t.Errorf("Title() = %q, want %q: a script ran", title, "original title")
	}
	text, err := b.Text()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "static text") || strings.Contains(text, "changed") {
		t.Errorf("Text() = %q: want the static text, unchanged", text)
	}
	if !strings.Contains(text, "NOSCRIPT IS SHOWN") {
		t.Errorf("Text() = %q: the <noscript> content is not shown, so the page thinks scripts run", text)
	}
	html, err := b.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, `<p id="p">static text</p>`) {
		t.Errorf("HTML() does not hold the unchanged paragraph:\n%s", html)
	}
	cookies, err := b.Cookies()
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies) != 0 {
		t.Errorf("Cookies() = %v, want none (document.cookie must not have run)", cookies)
	}

	if err := b.Submit("#next"); err != nil {
		t.Fatal(err)
	}
	if text, err := b.Text(); err != nil || strings.TrimSpace(text) != "second page" {
		t.Errorf("second page: Text() = %q, %v; want %q", text, err, "second page")
	}
	if u, err := b.URL(); err != nil || u != srv.URL+"/second" {
		t.Errorf("URL() = %q, %v; want %q", u, err, srv.URL+"/second")
	}

	for _, p := range h.list() {
		if strings.HasPrefix(p, "/ran") {
			t.Errorf("the server got %s: a script ran", p)
		}
	}
	t.Logf("requests: %v", h.list())
}

// formPage is a form like the submission form of sandyq.
const formPage = `<!doctype html><title>form</title><body>
<form method="post" action="/submit" enctype="multipart/form-data">
<p><input name="subject" id="subject" value="preset subject">
<p><textarea name="message" id="message" rows="5" cols="40"></textarea>
<p><label><input type="checkbox" name="agree" id="agree" value="yes"> I agree</label>
<p><input type="radio" name="lang" id="lang-en" value="en" checked><input type="radio" name="lang" id="lang-kk" value="kk">
<p><input type="file" name="files" id="files" multiple>
<p><button type="submit" id="send">Send</button>
</form>
</body>`

// upload is what the form handler read from one file part.
type upload struct {
	name   string
	ctype  string
	size   int64
	sha256 [32]byte
}

// TestSubmitForm fills a multipart form, chooses two files (one of 20 MiB),
// submits it with a click, and checks what the server read from the stream.
func TestSubmitForm(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "note été.txt")
	smallData := []byte("a small file\x00with a NUL byte and ünïcödé\n")
	if err := os.WriteFile(small, smallData, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.bin")
	bigData := make([]byte, 20<<20)
	rand.NewChaCha8([32]byte{1}).Read(bigData)
	if err := os.WriteFile(big, bigData, 0o600); err != nil {
		t.Fatal(err)
	}

	type result struct {
		fields  map[string][]string
		files   []upload
		cookie  string
		ctype   string
		readErr error
	}
	results := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3ss10n", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, formPage)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		res := result{fields: make(map[string][]string), ctype: r.Header.Get("Content-Type")}
		if c, err := r.Cookie("sid"); err == nil {
			res.cookie = c.Value
		}
		res.readErr = func() error {
			mr, err := r.MultipartReader()
			if err != nil {
				return err
			}
			for {
				part, err := mr.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if part.FileName() == "" {
					v, err := io.ReadAll(io.LimitReader(part, 1<<20))
					if err != nil {
						return err
					}
					res.fields[part.FormName()] = append(res.fields[part.FormName()], string(v))
					continue
				}
				h := sha256.New()
				n, err := io.Copy(h, part)
				if err != nil {
					return err
				}
				u := upload{name: part.FileName(), ctype: part.Header.Get("Content-Type"), size: n}
				h.Sum(u.sha256[:0])
				res.files = append(res.files, u)
			}
		}()
		results <- res
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>thanks</title><p>Received %d files.</p>", len(res.files))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := Start(t, Options{Timeout: testTimeout})
	if err := b.Navigate(srv.URL + "/form"); err != nil {
		t.Fatal(err)
	}
	const subject = "Documents about the tender"
	const message = "Привет, редакция!\nSecond line; Қазақша: әғқңөұүһі.\n\n  Indented last line"
	if err := b.SetValue("#subject", subject); err != nil {
		t.Fatal(err)
	}
	if err := b.SetValue("#message", message); err != nil {
		t.Fatal(err)
	}
	if err := b.SetChecked("#agree", true); err != nil {
		t.Fatal(err)
	}
	if err := b.SetChecked("#lang-kk", true); err != nil {
		t.Fatal(err)
	}
	if on, err := b.Checked("#lang-en"); err != nil || on {
		t.Errorf("Checked(#lang-en) = %v, %v after checking #lang-kk; want false", on, err)
	}
	if err := b.SetFiles("#files", small, big); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Value("#subject"); err != nil || v != subject {
		t.Errorf("Value(#subject) = %q, %v; want %q", v, err, subject)
	}
	if err := b.Screenshot(filepath.Join(t.TempDir(), "form.png")); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := b.Submit("#send"); err != nil {
		t.Fatal(err)
	}
	t.Logf("submitting 20 MiB took %v", time.Since(start).Round(time.Millisecond))

	var res result
	select {
	case res = <-results:
	default:
		t.Fatal("the page loaded but the handler did not run")
	}
	if res.readErr != nil {
		t.Fatalf("reading the multipart body: %v", res.readErr)
	}
	if mt, _, _ := mime.ParseMediaType(res.ctype); mt != "multipart/form-data" {
		t.Errorf("Content-Type = %q, want multipart/form-data", res.ctype)
	}
	if res.cookie != "s3ss10n" {
		t.Errorf("the submission carried cookie sid=%q, want the one the form page set", res.cookie)
	}
	wantFields := map[string]string{
		"subject": subject,
		"message": strings.ReplaceAll(message, "\n", "\r\n"), // HTML form submission normalizes to CRLF
		"agree":   "yes",
		"lang":    "kk",
	}
	for name, want := range wantFields {
		if got := res.fields[name]; len(got) != 1 || got[0] != want {
			t.Errorf("field %s = %q, want [%q]", name, got, want)
		}
	}
	if len(res.fields) != len(wantFields) {
		t.Errorf("fields = %q, want only %v", res.fields, wantFields)
	}
	wantFiles := []upload{
		{name: filepath.Base(small), ctype: "text/plain", size: int64(len(smallData)), sha256: sha256.Sum256(smallData)},
		{name: filepath.Base(big), ctype: "application/octet-stream", size: int64(len(bigData)), sha256: sha256.Sum256(bigData)},
	}
	if len(res.files) != len(wantFiles) {
		t.Fatalf("server got %d files, want %d", len(res.files), len(wantFiles))
	}
	for i, want := range wantFiles {
		got := res.files[i]
		if got.name != want.name || got.size != want.size || got.sha256 != want.sha256 {
			t.Errorf("file %d: got %q, %d bytes, SHA-256 %x; want %q, %d bytes, SHA-256 %x",
				i, got.name, got.size, got.sha256[:8], want.name, want.size, want.sha256[:8])
		}
		if got.ctype != want.ctype {
			t.Logf("file %d: Content-Type %q (want %q; it comes from the extension)", i, got.ctype, want.ctype)
		}
	}

	text, err := b.Text()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(text) != "Received 2 files." {
		t.Errorf("answer page text = %q", text)
	}
	if title, _ := b.Title(); title != "thanks" {
		t.Errorf("answer page title = %q, want %q", title, "thanks")
	}
}

// TestCookies checks that a cookie the server sets is sent back on the next
// request, and that Cookies reports it.
func TestCookies(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc123", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		io.WriteString(w, `<!doctype html><title>set</title><a id="go" href="/echo">go</a>`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<!doctype html><title>echo</title><p>cookie header: [%s]</p>", r.Header.Get("Cookie"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := Start(t, Options{Timeout: testTimeout})
	if err := b.Navigate(srv.URL + "/set"); err != nil {
		t.Fatal(err)
	}
	cookies, err := b.Cookies()
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies) != 1 || cookies[0].Name != "sid" || cookies[0].Value != "abc123" || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Errorf("Cookies() = %v, want sid=abc123 HttpOnly SameSite=Lax", cookies)
	}
	if err := b.Submit("#go"); err != nil {
		t.Fatal(err)
	}
	text, err := b.Text()
	if err != nil {
		t.Fatal(err)
	}
	if want := "cookie header: [sid=abc123]"; strings.TrimSpace(text) != want {
		t.Errorf("Text() = %q, want %q", text, want)
	}
}

func TestScreenshot(t *testing.T) {
	srv, _ := serve(t, map[string]string{
		"/": `<!doctype html><title>tall</title><body style="margin:0"><div style="height:3000px;background:#c33">tall page</div>`,
	})
	b := Start(t, Options{Timeout: testTimeout, WindowWidth: 800, WindowHeight: 600})
	if err := b.Navigate(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shot.png")
	if err := b.Screenshot(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a valid PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 800 || r.Dy() != 3000 {
		t.Errorf("screenshot is %v, want the whole page, 800×3000", r.Size())
	}
	if r, g, bl, _ := img.At(400, 2500).RGBA(); r>>8 != 0xcc || g>>8 != 0x33 || bl>>8 != 0x33 {
		t.Errorf("pixel at (400,2500) = %x %x %x, want the page's #c33", r>>8, g>>8, bl>>8)
	}
}

// TestSOCKSRemoteDNS checks that, with a SOCKS5 proxy, Chromium hands the
// host name to the proxy (remote DNS, as tor needs for .onion names) and
// sends it nothing else.
func TestSOCKSRemoteDNS(t *testing.T) {
	srv, h := serve(t, map[string]string{"/": `<!doctype html><title>onion</title><p>hello from the onion</p>`})
	const onion = "sandyqtestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"
	socks := startSOCKS(t, map[string]string{onion + ":80": srv.Listener.Addr().String()})
	b := Start(t, Options{Timeout: testTimeout, SocksProxy: socks.Addr()})
	if err := b.Navigate("http://" + onion + "/"); err != nil {
		t.Fatal(err)
	}
	text, err := b.Text()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(text) != "hello from the onion" {
		t.Errorf("Text() = %q", text)
	}
	reqs := socks.Requests()
	if len(reqs) == 0 {
		t.Fatal("the proxy got no request")
	}
	for _, r := range reqs {
		if r.atyp != 3 || r.host != onion || r.port != 80 {
			t.Errorf("the proxy got a request for %s port %d (address type %d); want only the name %s port 80", r.host, r.port, r.atyp, onion)
		}
	}
	for _, p := range h.list() {
		if p != "/" && p != "/favicon.ico" {
			t.Errorf("the server got %s, want only / (and /favicon.ico)", p)
		}
	}

	// A name the proxy refuses is an error, not a page.
	err = b.Navigate("http://unknown.onion/")
	var le *chromedp.LoadError
	if !errors.As(err, &le) {
		t.Errorf("Navigate to a name the proxy refuses: %v, want a *chromedp.LoadError", err)
	}
}

// TestNoNetwork checks the host resolver rules: without a proxy, host names
// do not resolve, and no address other than 127.0.0.1 is reached, even
// another loopback address where a server listens.
func TestNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	var mu sync.Mutex
	var conns int
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<title>reached</title>")
	}), ConnState: func(net.Conn, http.ConnState) { mu.Lock(); conns++; mu.Unlock() }}}
	srv.Start()
	t.Cleanup(srv.Close)
	port := ln.Addr().(*net.TCPAddr).Port

	b := Start(t, Options{Timeout: testTimeout})
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.2:%d/", port),
		fmt.Sprintf("http://localhost:%d/", port),
		"http://example.com/",
	} {
		err := b.Navigate(u)
		var le *chromedp.LoadError
		if !errors.As(err, &le) {
			t.Errorf("Navigate(%s) = %v, want a load error", u, err)
			continue
		}
		t.Logf("Navigate(%s): %s", u, le.ErrorText)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 0 {
		t.Errorf("the server on 127.0.0.2 got %d connection events, want none", conns)
	}
}

// TestErrors checks the errors of the element operations.
func TestErrors(t *testing.T) {
	srv, _ := serve(t, map[string]string{"/": `<!doctype html><title>errors</title><body>
<form action="/sent"><input name="q" id="text" required>
<input type="file" id="one">
<input type="checkbox" id="box">
<input type="radio" name="r" id="radio" checked>
<button id="hidden" style="display:none">hidden</button>
<div style="position:relative"><button id="covered">covered</button>
<div style="position:absolute;top:0;left:0;width:100%;height:100%;background:white"></div></div>
<button id="submit">Send</button>
</form>`})
	b := Start(t, Options{Timeout: 3 * time.Second})
	if err := b.Navigate(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"SetValue missing", func() error { return b.SetValue("#missing", "x") }, ErrNoElement},
		{"SetValue checkbox", func() error { return b.SetValue("#box", "x") }, ErrWrongElement},
		{"SetFiles text", func() error { return b.SetFiles("#text", file) }, ErrWrongElement},
		{"SetFiles two in single", func() error { return b.SetFiles("#one", file, file) }, ErrWrongElement},
		{"SetChecked text", func() error { return b.SetChecked("#text", true) }, ErrWrongElement},
		{"uncheck radio", func() error { return b.SetChecked("#radio", false) }, ErrWrongElement},
		{"Click hidden", func() error { return b.Click("#hidden") }, ErrObscured},
		{"Click covered", func() error { return b.Click("#covered") }, ErrObscured},
		{"Submit missing", func() error { return b.Submit("#missing") }, ErrNoElement},
		// The required field is empty: the browser refuses to submit, and
		// no page loads before the timeout.
		{"Submit invalid form", func() error { return b.Submit("#submit") }, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := b.SetChecked("#box", true); err != nil {
		t.Fatal(err)
	}
	if err := b.SetChecked("#box", false); err != nil {
		t.Fatal(err)
	}
	if on, err := b.Checked("#box"); err != nil || on {
		t.Errorf("Checked(#box) = %v, %v after unchecking", on, err)
	}
	if err := b.SetValue("#text", "something"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetValue("#text", ""); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Value("#text"); err != nil || v != "" {
		t.Errorf("Value(#text) = %q, %v after clearing it", v, err)
	}
}

// TestClose checks that Close ends the browser and all its processes, and
// that the browser refuses to work afterwards.
func TestClose(t *testing.T) {
	b := Start(t, Options{Timeout: testTimeout})
	pid := b.PID()
	if pid == 0 {
		t.Fatal("PID() = 0")
	}
	if len(dirProcesses(b.dir)) < 2 {
		t.Errorf("found %d processes of the profile, want the browser and its helpers", len(dirProcesses(b.dir)))
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Close: kill(0) = %v", pid, err)
	}
	if left := dirProcesses(b.dir); len(left) > 0 {
		t.Errorf("processes %v of the profile are left after Close", left)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.Navigate("about:blank"); !errors.Is(err, ErrClosed) {
		t.Errorf("Navigate after Close: %v, want ErrClosed", err)
	}
}

// TestSubmitWaitsForSlowAnswer checks that Submit waits for a server that
// reads the upload slowly and answers late, as an onion service does.
func TestSubmitWaitsForSlowAnswer(t *testing.T) {
	const delay = 2 * time.Second
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><title>slow</title><form method="post" action="/slow" enctype="multipart/form-data">
<textarea name="m" id="m"></textarea><input type="file" name="f" id="f"><input type="submit" id="go" value="Send"></form>`)
	})
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay / 2)
		n, err := io.Copy(io.Discard, r.Body)
		time.Sleep(delay / 2)
		if err != nil {
			http.Error(w, "reading the body failed", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "<!doctype html><title>done</title><p>read %d bytes</p>", n)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "one.bin")
	if err := os.WriteFile(file, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	b := Start(t, Options{Timeout: testTimeout})
	if err := b.Navigate(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetValue("#m", "slow"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetFiles("#f", file); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Submit("#go"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("Submit returned after %v, before the answer (%v)", d, delay)
	}
	if title, err := b.Title(); err != nil || title != "done" {
		t.Errorf("Title() = %q, %v; want the answer page", title, err)
	}
	text, err := b.Text()
	if err != nil || !strings.HasPrefix(text, "read ") || b.Status() != http.StatusOK {
		t.Errorf("Text() = %q, %v", text, err)
	}
}
