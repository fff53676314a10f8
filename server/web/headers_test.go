package web

import (
	"bytes"
	"crypto/rand"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/age"

	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/server/store"
)

// fixedHeaders is the header set every response must carry, exactly.
func fixedHeaders(contentType string) http.Header {
	return http.Header{
		"Content-Security-Policy":      {"default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
		"X-Content-Type-Options":       {"nosniff"},
		"Referrer-Policy":              {"no-referrer"},
		"Cache-Control":                {"no-store"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"X-Frame-Options":              {"DENY"},
		"Permissions-Policy":           {"accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()"},
		"Content-Type":                 {contentType},
	}
}

// addReply stores a reply for the source with codename name, encrypted to
// its reply recipient as a journalist's client would.
func (e *env) addReply(name, text string) store.ItemID {
	e.t.Helper()
	var itemID [16]byte
	rand.Read(itemID[:])
	return e.addReplyAs(name, text, itemID, itemID)
}

// addReplyAs stores a reply under storeID whose envelope names envID.
func (e *env) addReplyAs(name, text string, storeID, itemID store.ItemID) store.ItemID {
	e.t.Helper()
	k := e.keys(name)
	var ct bytes.Buffer
	w, err := envelope.Seal(&ct, &envelope.Header{ItemID: itemID, SourceID: k.SourceID, Kind: envelope.Reply},
		k.ReplyIdentity.Recipient())
	if err != nil {
		e.t.Fatal(err)
	}
	io.WriteString(w, text)
	if err := w.Close(); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.AddReplies([]store.NewReply{{Source: store.SourceID(k.SourceID), ID: storeID, Data: ct.Bytes()}}); err != nil {
		e.t.Fatal(err)
	}
	return storeID
}

// TestHeaderSet walks every route, errors included (400, 403, 404, 405,
// 413, 500, 503), and compares the exact header map of each response.
// The only additions allowed are Content-Length (always, and equal to the
// body length), Location on redirects, Set-Cookie where a session starts or
// ends, and the transport's "Connection: close" where the handler refused
// a body it did not read.
func TestHeaderSet(t *testing.T) {
	var panicky atomic.Bool
	var busy atomic.Bool
	e := newEnv(t, func(cfg *Config) {
		next := cfg.RecipientSet
		cfg.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) {
			if panicky.Load() {
				panic("test panic with secret detail /var/lib/sandyq")
			}
			return next()
		}
		cfg.Limits.MaxSubmission = 64 << 10
		cfg.DiskFree = func() (uint64, error) {
			if busy.Load() {
				return 0, nil
			}
			return 1 << 40, nil
		}
	})
	src := e.browser()
	name := src.newSource()
	replyID := e.addReply(name, "a reply").String()
	anon := e.browser()

	type check struct {
		status int
		css    bool
		extra  []string // header keys allowed beyond the fixed set
	}
	seen := make(map[int]bool)
	do := func(b *browser, method, path string, body io.Reader, ct string, want check) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, body)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, got := b.do(req)
		if resp.StatusCode != want.status {
			t.Errorf("%s %s: status %d, want %d", method, path, resp.StatusCode, want.status)
		}
		seen[resp.StatusCode] = true
		typ := contentTypeHTML
		if want.css {
			typ = contentTypeCSS
		}
		wantH := fixedHeaders(typ)
		wantH["Content-Length"] = []string{strconv.Itoa(len(got))}
		if method == http.MethodHead {
			wantH["Content-Length"] = resp.Header["Content-Length"]
		}
		gotH := resp.Header.Clone()
		for _, k := range want.extra {
			if _, ok := gotH[k]; !ok && k != "Connection" {
				t.Errorf("%s %s: missing header %s", method, path, k)
			}
			delete(gotH, k)
		}
		if !maps.EqualFunc(gotH, wantH, slices.Equal) {
			t.Errorf("%s %s: headers\n%v\nwant\n%v", method, path, gotH, wantH)
		}
		if strings.Contains(got, "secret detail") || strings.Contains(got, "/var/lib") || strings.Contains(got, "goroutine") {
			t.Errorf("%s %s: body leaks internals", method, path)
		}
	}
	form := func(v url.Values) io.Reader { return strings.NewReader(v.Encode()) }
	const urlenc = "application/x-www-form-urlencoded"
	ok := check{status: 200}
	see := check{status: 303, extra: []string{"Location"}}

	// Every GET page, in every language, logged in and not.
	for _, lang := range languages {
		for _, p := range []string{"/", "/resources", "/submit", "/replies", "/replies/" + replyID} {
			do(src, "GET", "/"+lang+p, nil, "", ok)
		}
		do(src, "GET", "/"+lang+"/new", nil, "", ok)
		do(src, "GET", "/"+lang+"/login", nil, "", ok)
		do(anon, "GET", "/"+lang+"/submit", nil, "", see)
		do(anon, "GET", "/"+lang+"/replies", nil, "", see)
	}
	do(src, "HEAD", "/en/", nil, "", ok)
	do(anon, "GET", "/", nil, "", see)
	do(anon, "GET", "/static/style.css", nil, "", check{status: 200, css: true})
	do(anon, "GET", "/en/new", nil, "", check{status: 200, extra: []string{"Set-Cookie"}})

	// The state-changing routes.
	tok := src.csrf("/en/submit")
	do(src, "POST", "/en/submit", bytes.NewReader(multipartBody(field("csrf", tok), field("message", "hi"))),
		"multipart/form-data; boundary="+testBoundary, see)
	do(src, "GET", "/en/receipt", nil, "", ok)
	do(src, "POST", "/en/replies/"+replyID+"/delete", form(url.Values{"csrf": {tok}}), urlenc, see)
	do(anon, "POST", "/en/new", form(url.Values{"csrf": {anon.csrf("/en/new")}}), urlenc, ok)
	do(anon, "POST", "/en/new/confirm", form(url.Values{"csrf": {anon.csrf("/en/new")}}), urlenc, check{status: 400})
	do(anon, "POST", "/en/login", form(url.Values{"csrf": {anon.csrf("/en/login")}, "codename": {"no such codename"}}), urlenc, check{status: 403})
	do(anon, "POST", "/en/login", form(url.Values{"csrf": {anon.csrf("/en/login")}, "codename": {name}}), urlenc,
		check{status: 303, extra: []string{"Location", "Set-Cookie"}})
	do(anon, "POST", "/en/logout", form(url.Values{"csrf": {anon.csrf("/en/submit")}}), urlenc,
		check{status: 303, extra: []string{"Location", "Set-Cookie"}})

	// Errors.
	for _, p := range []string{"/nope", "/en/nope", "/xx/", "/debug/pprof/", "/debug/vars", "/metrics",
		"/en/replies/" + strings.Repeat("0", 32), "/en/replies/zz", "/en/../en/", "/" + strings.Repeat("a", 200)} {
		do(src, "GET", p, nil, "", check{status: 404})
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
		do(src, m, "/en/submit", nil, "", check{status: 405})
	}
	do(src, "GET", "/en/logout", nil, "", check{status: 405})
	do(src, "GET", "/en/new/confirm", nil, "", check{status: 405})
	do(src, "GET", "/en/replies/"+replyID+"/delete", nil, "", check{status: 405})
	do(src, "POST", "/en/", form(nil), urlenc, check{status: 405})
	do(src, "POST", "/static/style.css", nil, "", check{status: 405})
	do(src, "POST", "/en/logout", form(url.Values{"csrf": {"wrong"}}), urlenc, check{status: 403})
	do(src, "POST", "/en/submit", strings.NewReader("x"), "text/plain", check{status: 400})
	do(src, "POST", "/en/submit", bytes.NewReader(multipartBody(field("csrf", tok), file("big", make([]byte, 100<<10)))),
		"multipart/form-data; boundary="+testBoundary, check{status: 413, extra: []string{"Connection"}})
	busy.Store(true)
	do(src, "POST", "/en/submit", bytes.NewReader(multipartBody(field("csrf", tok), field("message", "hi"))),
		"multipart/form-data; boundary="+testBoundary, check{status: 503, extra: []string{"Connection"}})
	busy.Store(false)
	panicky.Store(true)
	do(src, "GET", "/en/submit", nil, "", check{status: 500})
	panicky.Store(false)

	for _, s := range []int{200, 303, 400, 403, 404, 405, 413, 500, 503} {
		if !seen[s] {
			t.Errorf("no response with status %d was checked", s)
		}
	}
	if log := e.log.String(); strings.Contains(log, "secret detail") || strings.Count(log, "panicked") != 1 {
		t.Errorf("log after a panic: %q", log)
	}
}
