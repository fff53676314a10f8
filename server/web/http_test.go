package web

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const multipartType = "multipart/form-data; boundary=" + testBoundary

// loggedIn returns a browser of a new source and its CSRF token.
func (e *env) loggedIn() (*browser, string, string) {
	b := e.browser()
	name := b.newSource()
	return b, name, b.csrf("/en/submit")
}

// TestBodyOverCap: a submission over Limits.MaxSubmission gets 413 and
// stores nothing, whether its Content-Length says so up front or it is
// sent chunked and the cap trips while reading.
func TestBodyOverCap(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxSubmission = 256 << 10 }))
	b, name, tok := e.loggedIn()
	body := multipartBody(field("csrf", tok), field("message", "m"), file("a", make([]byte, 300<<10)))

	resp, _ := b.submitRaw(multipartType, bytes.NewReader(body))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length: status %d, want 413", resp.StatusCode)
	}
	// io.MultiReader hides the length: the client sends it chunked.
	resp, _ = b.submitRaw(multipartType, io.MultiReader(bytes.NewReader(body)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked: status %d, want 413", resp.StatusCode)
	}
	if items := e.items(name); len(items) != 0 {
		t.Fatalf("%d items stored", len(items))
	}
	// Under the cap it goes through.
	resp, _ = b.submit(field("csrf", tok), file("a", make([]byte, 200<<10)))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("under the cap: status %d", resp.StatusCode)
	}
}

// TestMessageOverCap: the message alone over Limits.MaxMessage.
func TestMessageOverCap(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxMessage = 1000 }))
	b, _, tok := e.loggedIn()
	resp, body := b.submit(field("csrf", tok), field("message", strings.Repeat("x", 1001)), file("f", []byte("data")))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too long") {
		t.Errorf("status %d", resp.StatusCode)
	}
	e.wantNoItems()
	resp, _ = b.submit(field("csrf", tok), field("message", strings.Repeat("x", 1000)))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("at the cap: status %d", resp.StatusCode)
	}
}

// rawExchange writes req on a new connection to the test server, closes
// the writing side if closeWrite, and returns what the server answers until
// it closes the connection (or timeout passes).
func (e *env) rawExchange(req []byte, closeWrite bool, timeout time.Duration) (string, time.Duration) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write(req); err != nil {
		e.t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	out, _ := io.ReadAll(c)
	return string(out), time.Since(start)
}

// cookieHeader returns the Cookie header line of b's session.
func (b *browser) cookieHeader() string {
	return fmt.Sprintf("Cookie: %s=%s\r\n", sessionCookie, b.cookie())
}

// TestLyingContentLength: a Content-Length that promises more than is
// sent, or less than is sent, stores nothing.
func TestLyingContentLength(t *testing.T) {
	e := newEnv(t)
	b, _, tok := e.loggedIn()
	body := multipartBody(field("csrf", tok), field("message", "hello"), file("f", bytes.Repeat([]byte("z"), 5000)))
	head := func(n int) string {
		return fmt.Sprintf("POST /en/submit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n",
			multipartType, b.cookieHeader(), n)
	}

	// Promises more: the body ends early.
	out, _ := e.rawExchange(append([]byte(head(len(body)+1000)), body...), true, 10*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Errorf("longer Content-Length: got %.60q", out)
	}
	// Promises less: the multipart body is cut off; the rest is garbage
	// that net/http refuses as a next request.
	out, _ = e.rawExchange(append([]byte(head(len(body)-200)), body...), false, 10*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Errorf("shorter Content-Length: got %.60q", out)
	}
	e.wantNoItems()
}

// TestSlowHeaders: a client that never finishes its headers is cut off
// after ReadHeaderTimeout (a real listener on 127.0.0.1, a raw conn).
func TestSlowHeaders(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.ReadHeaderTimeout = 300 * time.Millisecond }))
	out, took := e.rawExchange([]byte("GET /en/ HTTP/1.1\r\nHost: x\r\nX-Slow: "), false, 10*time.Second)
	if took > 5*time.Second {
		t.Errorf("connection with unfinished headers lived %v", took)
	}
	if strings.Contains(out, "200 OK") {
		t.Errorf("got a page: %.60q", out)
	}
}

// TestSlowBody: an upload that stops sending is ended after
// BodyIdleTimeout, and stores nothing.
func TestSlowBody(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.BodyIdleTimeout = 300 * time.Millisecond }))
	b, _, tok := e.loggedIn()
	body := multipartBody(field("csrf", tok), field("message", "hello"), file("f", bytes.Repeat([]byte("z"), 5000)))
	req := fmt.Sprintf("POST /en/submit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n",
		multipartType, b.cookieHeader(), len(body))
	out, took := e.rawExchange(append([]byte(req), body[:len(body)/2]...), false, 10*time.Second)
	if took > 5*time.Second {
		t.Errorf("stalled upload lived %v", took)
	}
	if strings.Contains(out, "303 See Other") {
		t.Errorf("stalled upload got a receipt")
	}
	e.wantNoItems()
}

// TestMalformedMultipart: every malformed body gets a 4xx and stores
// nothing, and the server keeps serving.
func TestMalformedMultipart(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxParts = 20; l.MaxHeaderBytes = 4 << 10 }))
	b, _, tok := e.loggedIn()
	csrf := field("csrf", tok)
	msg := field("message", "hello")
	f := file("f.txt", []byte("data"))
	name := "x.txt"
	many := []part{csrf}
	for range 2000 {
		many = append(many, file("f", []byte("x")))
	}
	for _, tc := range []struct {
		name        string
		contentType string
		body        []byte
		status      int
	}{
		{"no boundary", "multipart/form-data", multipartBody(csrf, msg), 400},
		{"empty boundary", "multipart/form-data; boundary=", multipartBody(csrf, msg), 400},
		{"wrong boundary", "multipart/form-data; boundary=other", multipartBody(csrf, msg), 400},
		{"not multipart", "text/plain", []byte("message=hello"), 400},
		{"urlencoded", "application/x-www-form-urlencoded", []byte("csrf=" + tok + "&message=hello"), 400},
		{"no content type", "", multipartBody(csrf, msg), 400},
		{"empty body", multipartType, nil, 400},
		{"no parts", multipartType, []byte("--" + testBoundary + "--\r\n"), 403},
		{"truncated part", multipartType, multipartBody(csrf, msg, f)[:len(multipartBody(csrf, msg, f))-40], 400},
		{"no closing boundary", multipartType, bytes.TrimSuffix(multipartBody(csrf, msg), []byte("--"+testBoundary+"--\r\n")), 400},
		{"thousands of parts", multipartType, multipartBody(many...), 400},
		// A valid message part but for its 1 MiB header line: only the
		// part-header cap refuses it (net/http's own is 10 MiB).
		{"endless header line", multipartType, multipartBody(csrf, part{rawHeader: "Content-Disposition: form-data; name=\"message\"; x=\"" + strings.Repeat("a", 1<<20) + "\"\r\n", body: []byte("hello")}), 400},
		{"endless header block", multipartType, multipartBody(csrf, part{rawHeader: strings.Repeat("X-A: b\r\n", 100000)}), 400},
		{"file in text field", multipartType, multipartBody(csrf, part{name: "message", filename: &name, body: []byte("hi")}), 400},
		{"text in file field", multipartType, multipartBody(csrf, field("file", "hi")), 400},
		{"duplicate message", multipartType, multipartBody(csrf, msg, msg), 400},
		{"duplicate csrf", multipartType, multipartBody(csrf, csrf, msg), 400},
		{"unknown field", multipartType, multipartBody(csrf, field("other", "x")), 400},
		{"csrf not first", multipartType, multipartBody(msg, csrf), 403},
		{"csrf as file", multipartType, multipartBody(part{name: "csrf", filename: &name, body: []byte(tok)}, msg), 403},
		{"no disposition", multipartType, multipartBody(csrf, part{rawHeader: "Content-Type: text/plain\r\n", body: []byte("x")}), 400},
		{"attachment disposition", multipartType, multipartBody(csrf, part{rawHeader: "Content-Disposition: attachment; name=\"message\"\r\n", body: []byte("x")}), 400},
		{"duplicate parameter", multipartType, multipartBody(csrf, part{rawHeader: "Content-Disposition: form-data; name=\"message\"; name=\"file\"\r\n", body: []byte("x")}), 400},
		{"nothing to send", multipartType, multipartBody(csrf, field("message", "  \r\n "), file("", nil)), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := b.submitRaw(tc.contentType, bytes.NewReader(tc.body))
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			e.wantNoItems()
		})
	}
	// Still serving.
	if resp, _ := b.submit(csrf, msg); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the malformed bodies: status %d", resp.StatusCode)
	}
}

// TestHostileFilenames: names are stored only inside the ciphertext,
// byte for byte; nothing named after them appears on disk; no page shows
// them.
func TestHostileFilenames(t *testing.T) {
	e := newEnv(t)
	b, name, tok := e.loggedIn()
	names := []struct {
		name string
		star bool // needs RFC 2231 encoding to fit in a header
	}{
		{"../../../../etc/passwd", false},
		{`..\..\..\windows\win.ini`, false},
		{"/etc/shadow", false},
		{`\\server\share\x`, true}, // a quoted-string would unescape "\\"
		{`C:\Windows\System32\x.dll`, false},
		{"CON", false},
		{"NUL.txt", false},
		{"a\x00b.txt", true},
		{"line\r\nSet-Cookie: x=y", true},
		{"\x1b]8;;http://evil\x07click\x1b]8;;\x07", true},
		{"photo\u202egpj.exe", false},
		{"\xff\xfe\xfdinvalid", true},
		{strings.Repeat("n", 1000), false},
		{"<script>alert(1)</script>.html", false},
		{"", false}, // empty name with content
	}
	parts := []part{field("csrf", tok)}
	for i, n := range names {
		p := file(n.name, []byte(fmt.Sprintf("content %d", i)))
		p.star = n.star
		parts = append(parts, p)
	}
	resp, _ := b.submit(parts...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, receipt := b.get("/en/receipt")
	items := e.items(name)
	if len(items) != len(names) {
		t.Fatalf("%d items, want %d", len(items), len(names))
	}
	for i, it := range items {
		h, content := e.open(it)
		if h.Filename != names[i].name || string(content) != fmt.Sprintf("content %d", i) {
			t.Errorf("item %d: filename %q, want %q", i, h.Filename, names[i].name)
		}
		if len(names[i].name) > 3 && strings.Contains(receipt, names[i].name) {
			t.Errorf("receipt shows filename %q", names[i].name)
		}
	}
	entries, _ := os.ReadDir(e.dir)
	for _, de := range entries {
		if de.Name() != "sandyq.db" {
			t.Errorf("unexpected file in the data dir: %q", de.Name())
		}
	}
	for _, n := range []string{"passwd", "win.ini", "shadow"} {
		if _, err := os.Stat(filepath.Join("/tmp", n)); err == nil {
			t.Errorf("%s exists in /tmp", n)
		}
	}
}

// TestMarkupInert: markup in a message is never rendered as markup: the
// only place a message is shown (the codename warning) escapes it, and so
// does the reply page.
func TestMarkupInert(t *testing.T) {
	e := newEnv(t)
	b, name, tok := e.loggedIn()
	markup := `</textarea><script>alert(1)</script><svg onload=alert(1)><a href="javascript:alert(1)">x</a>`
	resp, body := b.submit(field("csrf", tok), field("message", markup+" "+name))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, bad := range []string{"<script>", "<svg", `href="javascript:`, "</textarea><"} {
		if strings.Contains(body, bad) {
			t.Errorf("warning page contains %q unescaped", bad)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("warning page does not give the message back escaped")
	}
	id := e.addReply(name, markup)
	_, body = b.get("/en/replies/" + id.String())
	if strings.Contains(body, "<script>") || strings.Contains(body, "<svg") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("reply page does not escape markup")
	}
}

// TestGETOnMutatingRoutes: the state-changing routes answer only POST.
func TestGETOnMutatingRoutes(t *testing.T) {
	e := newEnv(t)
	b, name, tok := e.loggedIn()
	id := e.addReply(name, "r").String()
	for _, path := range []string{"/en/logout", "/en/new/confirm", "/en/replies/" + id + "/delete"} {
		for _, m := range []string{"GET", "HEAD", "PUT", "DELETE", "PATCH"} {
			req, _ := http.NewRequest(m, e.srv.URL+path+"?csrf="+url.QueryEscape(tok), nil)
			if resp, _ := b.do(req); resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", m, path, resp.StatusCode)
			}
		}
	}
	// Nothing happened: still logged in, the reply is still there.
	if resp, _ := b.get("/en/replies/" + id); resp.StatusCode != http.StatusOK {
		t.Errorf("after GETs: reply page status %d", resp.StatusCode)
	}
}

// TestOddRequests: odd Host headers, absolute-form targets, OPTIONS *,
// HTTP/1.0: nothing reflects the Host, nothing crashes.
func TestOddRequests(t *testing.T) {
	e := newEnv(t)
	for _, req := range []string{
		"GET /en/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
		"GET http://evil.example/en/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"BREW /en/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	} {
		out, _ := e.rawExchange([]byte(req), false, 10*time.Second)
		if strings.Contains(out, "evil.example") {
			t.Errorf("%q: response reflects the Host", req)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
		if err != nil {
			t.Errorf("%q: %v", req, err)
			continue
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%q: status %d without the fixed headers", req, resp.StatusCode)
		}
	}
}

// TestIdleConnectionsAndHugeHeaders: hundreds of connections that send
// nothing neither block service nor live past ReadHeaderTimeout; headers
// or cookies over MaxHeaderBytes are refused by net/http (431) before the
// handler runs.
func TestIdleConnectionsAndHugeHeaders(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) {
		l.ReadHeaderTimeout = 500 * time.Millisecond
		l.MaxHeaderBytes = 8 << 10
	}))
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if resp, _ := e.browser().get("/en/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("with 300 idle connections: %d", resp.StatusCode)
	}
	time.Sleep(time.Second)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("idle connection %d still open after ReadHeaderTimeout (%v)", i, err)
		}
	}
	for _, extra := range []string{
		"X-Big: " + strings.Repeat("a", 64<<10) + "\r\n",
		strings.Repeat("Cookie: a="+strings.Repeat("b", 100)+"\r\n", 500),
	} {
		out, _ := e.rawExchange([]byte("GET /en/ HTTP/1.1\r\nHost: x\r\n"+extra+"\r\n"), false, 10*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 431 ") {
			t.Errorf("huge header: got %.40q", out)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
