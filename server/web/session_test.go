package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/server/store"
)

// TestCSRF: every state-changing route refuses a missing token, a wrong
// one, another session's, and one from a session that has logged out; and
// refusing changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	victim, name, tok := e.loggedIn()
	replyID := e.addReply(name, "r").String()
	other, _, otherTok := e.loggedIn()

	old := e.browser()
	old.newSource()
	oldTok := old.csrf("/en/submit")
	oldCookie := old.cookie()
	if resp, _ := old.post("/en/logout", url.Values{"csrf": {oldTok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	_ = other

	tokens := map[string]string{
		"missing":       "",
		"wrong":         strings.Repeat("A", len(tok)),
		"other session": otherTok,
		"after logout":  oldTok,
		"almost":        tok[:len(tok)-1] + "x",
	}
	for label, bad := range tokens {
		v := url.Values{}
		if label != "missing" {
			v.Set("csrf", bad)
		}
		for _, path := range []string{"/en/logout", "/en/replies/" + replyID + "/delete", "/en/new", "/en/new/confirm", "/en/login"} {
			resp, _ := victim.post(path, v)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s token, POST %s: status %d, want 403", label, path, resp.StatusCode)
			}
		}
		var parts []part
		if label != "missing" {
			parts = append(parts, field("csrf", bad))
		}
		parts = append(parts, field("message", "forged"))
		if resp, _ := victim.submit(parts...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s token, submit: status %d, want 403", label, resp.StatusCode)
		}
	}
	// The logged-out session's cookie with its own old token.
	req, _ := http.NewRequest("POST", e.srv.URL+"/en/submit", bytes.NewReader(multipartBody(field("csrf", oldTok), field("message", "x"))))
	req.Header.Set("Content-Type", multipartType)
	req.Header.Set("Cookie", sessionCookie+"="+oldCookie)
	if resp, err := http.DefaultTransport.RoundTrip(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("old session after logout: %v %v", resp.StatusCode, err)
	}

	e.wantNoItems()
	if resp, _ := victim.get("/en/replies/" + replyID); resp.StatusCode != http.StatusOK {
		t.Errorf("victim lost its session or reply: %d", resp.StatusCode)
	}
}

// TestSessionFixation: a session ID the client makes up is never adopted,
// and logging in replaces the pre-login session ID.
func TestSessionFixation(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	name := b.newSource()
	b.post("/en/logout", url.Values{"csrf": {b.csrf("/en/submit")}})

	// An attacker plants a well-formed ID in the victim's browser.
	planted := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	u, _ := url.Parse(e.srv.URL)
	victim := e.browser()
	victim.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: planted, Path: "/"}})
	victim.csrf("/en/login")
	pre := victim.cookie()
	if pre == planted {
		t.Fatal("the planted session ID was adopted")
	}
	if victim.login(name) != http.StatusSeeOther {
		t.Fatal("login failed")
	}
	post := victim.cookie()
	if post == pre || post == planted || post == "" {
		t.Fatal("login kept the pre-login session ID")
	}
	// The pre-login ID is dead.
	stale := e.browser()
	stale.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: pre, Path: "/"}})
	if resp, _ := stale.get("/en/submit"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("pre-login session ID still works: %d", resp.StatusCode)
	}
}

// TestSessionReuse: after logout or idle expiry the session is gone.
func TestSessionReuse(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	e := newEnv(t, withClock(clock), withLimits(func(l *Limits) { l.SessionIdle = 10 * time.Minute }))
	u, _ := url.Parse(e.srv.URL)

	b, _, tok := e.loggedIn()
	copyB := e.browser()
	copyB.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: b.cookie(), Path: "/"}})
	if resp, _ := copyB.get("/en/submit"); resp.StatusCode != http.StatusOK {
		t.Fatalf("copied cookie before logout: %d", resp.StatusCode)
	}
	resp, _ := b.post("/en/logout", url.Values{"csrf": {tok}})
	if c := resp.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 || c[0].Value != "" {
		t.Errorf("logout does not clear the cookie: %v", resp.Header["Set-Cookie"])
	}
	if resp, _ := copyB.get("/en/submit"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session works after logout: %d", resp.StatusCode)
	}

	b2, _, _ := e.loggedIn()
	clock.Advance(9 * time.Minute)
	if resp, _ := b2.get("/en/submit"); resp.StatusCode != http.StatusOK {
		t.Errorf("session expired before its idle time: %d", resp.StatusCode)
	}
	clock.Advance(9 * time.Minute) // idle time counts from the last request
	if resp, _ := b2.get("/en/submit"); resp.StatusCode != http.StatusOK {
		t.Errorf("session expired though in use: %d", resp.StatusCode)
	}
	clock.Advance(11 * time.Minute)
	if resp, _ := b2.get("/en/submit"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session alive after idle expiry: %d", resp.StatusCode)
	}
}

// TestCookie: the cookie is an opaque random ID with the right flags.
func TestCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	resp, _ := b.get("/en/new")
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies", len(cookies))
	}
	c := cookies[0]
	raw := resp.Header.Get("Set-Cookie")
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" ||
		c.Secure || !c.Expires.IsZero() || c.MaxAge != 0 || c.Domain != "" {
		t.Errorf("cookie flags: %q", raw)
	}
	id, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(id) != 32 {
		t.Errorf("cookie value is not 32 random bytes in base64url: %q", c.Value)
	}
	// Logged in, the cookie changes and still holds nothing but an ID.
	name := b.newSource()
	v := b.cookie()
	if v == c.Value || strings.Contains(v, strings.Fields(name)[0]) {
		t.Errorf("cookie after login: %q", v)
	}
	sid := e.sourceID(name)
	if strings.Contains(v, base64.RawURLEncoding.EncodeToString(sid[:])[:10]) {
		t.Error("cookie holds the source ID")
	}
	if id, err := base64.RawURLEncoding.DecodeString(v); err != nil || len(id) != 32 {
		t.Errorf("cookie after login: %q", v)
	}
}

// TestReplyIsolation: a source can neither read nor delete another
// source's reply by its ID; the owner can.
func TestReplyIsolation(t *testing.T) {
	e := newEnv(t)
	alice, aliceName, aliceTok := e.loggedIn()
	bob, bobName, bobTok := e.loggedIn()
	bobReply := e.addReply(bobName, "for bob only")
	e.addReply(aliceName, "for alice")

	if resp, body := alice.get("/en/replies/" + bobReply.String()); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "for bob") {
		t.Errorf("alice reads bob's reply: %d", resp.StatusCode)
	}
	if _, body := alice.get("/en/replies"); strings.Contains(body, bobReply.String()) {
		t.Error("alice's list shows bob's reply")
	}
	if resp, _ := alice.post("/en/replies/"+bobReply.String()+"/delete", url.Values{"csrf": {aliceTok}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("alice deletes bob's reply: %d", resp.StatusCode)
	}
	if resp, body := bob.get("/en/replies/" + bobReply.String()); resp.StatusCode != http.StatusOK || !strings.Contains(body, "for bob only") {
		t.Fatalf("bob cannot read his reply: %d", resp.StatusCode)
	}
	if resp, _ := bob.post("/en/replies/"+bobReply.String()+"/delete", url.Values{"csrf": {bobTok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob cannot delete his reply: %d", resp.StatusCode)
	}
	if resp, _ := bob.get("/en/replies/" + bobReply.String()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted reply still readable: %d", resp.StatusCode)
	}
	// A reply filed under another ID than the one its envelope names (a
	// server moving replies around) is not shown.
	moved := e.addReplyAs(bobName, "moved reply", store.ItemID{1, 2, 3}, store.ItemID{4, 5, 6})
	if resp, body := bob.get("/en/replies/" + moved.String()); resp.StatusCode == http.StatusOK || strings.Contains(body, "moved reply") {
		t.Errorf("a reply whose envelope names another ID was shown: %d", resp.StatusCode)
	}
}

// fillKDF takes every KDF slot, so that any derivation would wait for the
// queue timeout and get 503.
func fillKDF(h *Handler) (release func()) {
	for range cap(h.kdf) {
		h.kdf <- struct{}{}
	}
	return func() {
		for range cap(h.kdf) {
			<-h.kdf
		}
	}
}

// TestCodenameBeforeKDF: an oversized codename is refused before any
// hashing (and before the login throttle); a well-formed one, known or
// not, always costs a derivation, so timing does not tell them apart.
func TestCodenameBeforeKDF(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) {
		l.KDFQueueTimeout = 50 * time.Millisecond
		l.LoginsPerMinute = 3
	}))
	known := e.browser().newSource()
	b := e.browser()
	release := fillKDF(e.h)
	for _, in := range []string{strings.Repeat("a", 257), strings.Repeat("abacus ", 300), known + strings.Repeat(" ", 300)} {
		if got := b.login(in); got != http.StatusBadRequest {
			t.Errorf("oversized codename (%d bytes): status %d, want 400 without hashing", len(in), got)
		}
	}
	if got := b.login("not a codename at all"); got != http.StatusForbidden {
		t.Errorf("malformed codename: status %d, want 403", got)
	}
	unknown := "abacus abdomen abdominal abide abiding ability ablaze"
	for _, in := range []string{known, unknown} {
		if got := b.login(in); got != http.StatusServiceUnavailable {
			t.Errorf("well-formed codename with the KDF busy: status %d, want 503 (it must derive)", got)
		}
	}
	release()
	// The throttle allowed 3 logins a minute; all were spent above.
	if got := b.login(known); got != http.StatusServiceUnavailable {
		t.Errorf("4th login in a minute: status %d, want 503", got)
	}
}

// TestLoginThrottle and the new-codename flood: global token buckets.
func TestThrottles(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	e := newEnv(t, withClock(clock), withLimits(func(l *Limits) {
		l.NewCodenamesPerMinute = 2
		l.LoginsPerMinute = 2
	}))
	b := e.browser()
	name := b.newSource()
	e.browser().newSource()
	c := e.browser()
	if resp, _ := c.post("/en/new", url.Values{"csrf": {c.csrf("/en/new")}}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("3rd codename in a minute: %d, want 503", resp.StatusCode)
	}
	for i := range 2 {
		if got := c.login(name); got != http.StatusSeeOther {
			t.Fatalf("login %d: %d", i, got)
		}
	}
	if got := c.login(name); got != http.StatusServiceUnavailable {
		t.Errorf("3rd login in a minute: %d, want 503", got)
	}
	clock.Advance(time.Minute)
	if got := c.login(name); got != http.StatusSeeOther {
		t.Errorf("login after a minute: %d", got)
	}
}

// TestCodenameInMessage: a message holding the source's own codename is
// refused with a warning before anything is encrypted; other text is not.
func TestCodenameInMessage(t *testing.T) {
	e := newEnv(t)
	b, name, tok := e.loggedIn()
	words := strings.Fields(name)
	for _, msg := range []string{
		name,
		"my codename: " + strings.ToUpper(name) + ". bye",
		strings.Join(words, "\r\n"),
	} {
		resp, body := b.submit(field("csrf", tok), file("a.txt", []byte("file first")), field("message", msg), file("b.txt", bytes.Repeat([]byte("y"), 300<<10)))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "seems to contain your codename") {
			t.Errorf("message %q: status %d, no warning", msg, resp.StatusCode)
		}
	}
	e.wantNoItems()
	if !strings.Contains(e.log.String(), "") || strings.Contains(e.log.String(), words[0]+" "+words[1]) {
		t.Error("log mentions the codename")
	}
	for _, msg := range []string{strings.Join(words[:6], " "), strings.Join(words[1:], " ") + " " + words[0]} {
		if resp, _ := b.submit(field("csrf", tok), field("message", msg)); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("message %q refused: %d", msg, resp.StatusCode)
		}
	}
}

// TestNewCodenameConfirm: without the tick, or confirmed twice, no source
// is created and the codename is not shown again.
func TestNewCodenameConfirm(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	resp, body := b.post("/en/new", url.Values{"csrf": {b.csrf("/en/new")}})
	name := codenameRE.FindStringSubmatch(body)[1]
	tok := csrfRE.FindStringSubmatch(body)[1]
	resp, body = b.post("/en/new/confirm", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, name) {
		t.Errorf("unticked confirm: %d", resp.StatusCode)
	}
	resp, _ = b.post("/en/new/confirm", url.Values{"csrf": {tok}, "saved": {"yes"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("confirm after the pending codename was dropped: %d", resp.StatusCode)
	}
	if got := b.login(name); got != http.StatusForbidden {
		t.Errorf("unconfirmed codename logs in: %d", got)
	}
}

// TestAnonFlood: a flood of visitor sessions does not log sources out.
func TestAnonFlood(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxAnonSessions = 5; l.MaxSessions = 5 }))
	b, _, _ := e.loggedIn()
	for range 50 {
		e.browser().get("/en/login")
	}
	if s, a := e.h.sessions.count(); s != 1 || a > 5 {
		t.Errorf("sessions: %d sources, %d visitors", s, a)
	}
	if resp, _ := b.get("/en/submit"); resp.StatusCode != http.StatusOK {
		t.Errorf("source logged out by a visitor flood: %d", resp.StatusCode)
	}
	for range 6 {
		e.loggedIn()
	}
	if s, _ := e.h.sessions.count(); s != 5 {
		t.Errorf("%d source sessions, bound is 5", s)
	}
}

// countingReader records whether anything read it.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n += len(p)
	return 0, io.EOF
}

// TestFormClosed: with no recipient set (or an expired one, or low disk,
// or a failing disk check) the form says so and a submission is refused
// before a byte of it is read.
func TestFormClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  envOption
		text string
	}{
		{"no set", func(c *Config) { c.RecipientSet = nil }, "keys are not set up"},
		{"error", func(c *Config) {
			c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) { return nil, nil, errors.New("x") }
		}, "keys are not set up"},
		{"expired", func(c *Config) {
			next := c.RecipientSet
			c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) {
				s, r, err := next()
				exp := *s
				exp.NotAfter = time.Now().Add(-time.Second)
				return &exp, r, err
			}
		}, "keys are not set up"},
		{"disk low", func(c *Config) { c.DiskFree = func() (uint64, error) { return 1 << 20, nil } }, "short of space"},
		{"disk error", func(c *Config) { c.DiskFree = func() (uint64, error) { return 0, errors.New("x") } }, "short of space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			b, _, _ := e.loggedIn()
			resp, body := b.get("/en/submit")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.text) || strings.Contains(body, `enctype="multipart/form-data"`) {
				t.Errorf("form page: status %d, closed notice missing or form shown", resp.StatusCode)
			}
			body2 := &countingReader{}
			req := httptest.NewRequest("POST", "/en/submit", body2)
			req.Header.Set("Content-Type", multipartType)
			req.Header.Set("Cookie", sessionCookie+"="+b.cookie())
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, req)
			if w.Code != http.StatusServiceUnavailable || body2.n != 0 {
				t.Errorf("submission: status %d, %d bytes read", w.Code, body2.n)
			}
		})
	}
}

// TestUploadsBusy: with every upload slot taken, a submission gets the
// busy page before a byte of it is read.
func TestUploadsBusy(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxConcurrentUploads = 1 }))
	b, _, tok := e.loggedIn()
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/en/submit", pr)
		req.Header.Set("Content-Type", multipartType)
		resp, err := b.c.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write(multipartBody(field("csrf", tok))[:40]) // the upload is under way
	for e.h.uploads.tryAcquire() {
		e.h.uploads.release()
		time.Sleep(5 * time.Millisecond)
	}
	body := &countingReader{}
	req := httptest.NewRequest("POST", "/en/submit", body)
	req.Header.Set("Content-Type", multipartType)
	req.Header.Set("Cookie", sessionCookie+"="+b.cookie())
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || body.n != 0 || !strings.Contains(w.Body.String(), "busy") {
		t.Errorf("second upload: status %d, %d bytes read", w.Code, body.n)
	}
	pw.CloseWithError(errors.New("client gave up"))
	<-done
	e.wantNoItems()
}

// TestSmallFormStrict: the small forms refuse duplicate fields, multipart
// bodies and oversized bodies.
func TestSmallFormStrict(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	tok := b.csrf("/en/login")
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
	}{
		{"duplicate csrf", "application/x-www-form-urlencoded", "csrf=" + tok + "&csrf=" + tok + "&codename=a", 400},
		{"duplicate codename", "application/x-www-form-urlencoded", "csrf=" + tok + "&codename=a&codename=b", 400},
		{"multipart", multipartType, string(multipartBody(field("csrf", tok), field("codename", "a"))), 400},
		{"oversized", "application/x-www-form-urlencoded", "csrf=" + tok + "&codename=" + strings.Repeat("a", 5000), 413},
		{"bad encoding", "application/x-www-form-urlencoded", "csrf=" + tok + "&codename=%zz", 400},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/en/login", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		if resp, _ := b.do(req); resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}
