package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// This file is the benchmark's web client: it uses sandyq's source pages
// exactly as a browser with JavaScript off does (GET a page, POST its form
// with the CSRF token and the session cookie, follow nothing
// automatically), and OnionShare's receive form the same way.

// errBusy is a 503 answer: a rate limit or a concurrency cap of the server
// said "try again later".
var errBusy = errors.New("server busy (503)")

// boundary separates the parts of every multipart body the benchmark sends.
const boundary = "sandyqBenchBoundary9XkT2mQ4vL7pR1"

const multipartType = "multipart/form-data; boundary=" + boundary

// part is one part of a multipart/form-data body: a text field when
// Filename is empty, else a file whose content is Data, or, when Data is
// nil, Size bytes from a ChaCha8 stream seeded with Seed.
type part struct {
	Name     string
	Filename string
	Value    string // text field value
	Data     []byte
	Size     int64
	Seed     uint64
}

// formBody returns a multipart body made of parts, and its length. File
// content is generated as it is read: a 1 GiB upload holds no 1 GiB buffer.
func formBody(parts ...part) (func() io.Reader, int64) {
	type piece struct {
		fixed []byte
		size  int64
		seed  uint64
	}
	var pieces []piece
	var total int64
	add := func(p piece) {
		pieces = append(pieces, p)
		total += int64(len(p.fixed)) + p.size
	}
	for _, p := range parts {
		var h bytes.Buffer
		fmt.Fprintf(&h, "--%s\r\nContent-Disposition: form-data; name=%q", boundary, p.Name)
		if p.Filename != "" {
			fmt.Fprintf(&h, "; filename=%q\r\nContent-Type: application/octet-stream", p.Filename)
		}
		h.WriteString("\r\n\r\n")
		switch {
		case p.Filename == "":
			h.WriteString(p.Value)
			add(piece{fixed: h.Bytes()})
		case p.Data != nil:
			h.Write(p.Data)
			add(piece{fixed: h.Bytes()})
		default:
			add(piece{fixed: h.Bytes()})
			add(piece{size: p.Size, seed: p.Seed})
		}
		add(piece{fixed: []byte("\r\n")})
	}
	add(piece{fixed: []byte("--" + boundary + "--\r\n")})
	return func() io.Reader {
		rs := make([]io.Reader, len(pieces))
		for i, p := range pieces {
			if p.fixed != nil {
				rs[i] = bytes.NewReader(p.fixed)
			} else {
				var seed [32]byte
				for j := range 8 {
					seed[j] = byte(p.seed >> (8 * j))
				}
				rs[i] = io.LimitReader(mrand.NewChaCha8(seed), p.size)
			}
		}
		return io.MultiReader(rs...)
	}, total
}

// loopbackTransport is shared by every client of a loopback server: large
// buffers, no compression, enough idle connections for 64 clients.
func loopbackTransport() *http.Transport {
	return &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      64 << 10,
		IdleConnTimeout:     time.Minute,
	}
}

// browser is one visitor of a sandyq source interface, with its own
// cookie jar.
type browser struct {
	base string // "http://127.0.0.1:8080" or "http://x.onion", no final slash
	hc   *http.Client
	csrf string // the CSRF token of the logged-in session's forms
}

// newBrowser returns a browser for base. hc's transport is used as it is;
// the browser gets its own cookie jar and never follows redirects.
func newBrowser(base string, rt http.RoundTripper, timeout time.Duration) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: strings.TrimSuffix(base, "/"), hc: &http.Client{
		Transport:     rt,
		Jar:           jar,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the status, the Location header and at
// most 1 MiB of the body.
func (b *browser) do(ctx context.Context, method, path, ctype string, body io.Reader, length int64) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return 0, "", "", err
	}
	if body != nil {
		req.ContentLength = length
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept-Language", "en")
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, "", "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", "", fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(page), nil
}

func (b *browser) postForm(ctx context.Context, path string, v url.Values) (int, string, string, error) {
	s := v.Encode()
	return b.do(ctx, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(s), int64(len(s)))
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	codenameRE = regexp.MustCompile(`<p class="codename"[^>]*>([^<]+)</p>`)
)

// pageCSRF fetches a page and returns the CSRF token of its form.
func (b *browser) pageCSRF(ctx context.Context, path string) (string, error) {
	status, _, page, err := b.do(ctx, http.MethodGet, path, "", nil, 0)
	if err != nil {
		return "", err
	}
	m := csrfRE.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		return "", fmt.Errorf("GET %s: status %d, no form token", path, status)
	}
	return m[1], nil
}

// newCodename gets a new codename through the pages, confirms it, and
// leaves the browser logged in, ready to submit. It returns the codename
// (kept only in the benchmark's memory, to log in more browsers as the
// same source).
func (b *browser) newCodename(ctx context.Context) (string, error) {
	tok, err := b.pageCSRF(ctx, "/en/new")
	if err != nil {
		return "", err
	}
	status, _, page, err := b.postForm(ctx, "/en/new", url.Values{"csrf": {tok}})
	if err != nil {
		return "", err
	}
	if status == http.StatusServiceUnavailable {
		return "", errBusy
	}
	m, t := codenameRE.FindStringSubmatch(page), csrfRE.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil || t == nil {
		return "", fmt.Errorf("POST /en/new: status %d, no codename on the page", status)
	}
	status, loc, _, err := b.postForm(ctx, "/en/new/confirm", url.Values{"csrf": {t[1]}, "saved": {"yes"}})
	if err != nil {
		return "", err
	}
	if status != http.StatusSeeOther || loc != "/en/submit" {
		return "", fmt.Errorf("POST /en/new/confirm: status %d, location %q", status, loc)
	}
	if b.csrf, err = b.pageCSRF(ctx, "/en/submit"); err != nil {
		return "", err
	}
	return strings.TrimSpace(m[1]), nil
}

// login logs the browser in with a codename, ready to submit.
func (b *browser) login(ctx context.Context, name string) error {
	tok, err := b.pageCSRF(ctx, "/en/login")
	if err != nil {
		return err
	}
	status, loc, _, err := b.postForm(ctx, "/en/login", url.Values{"csrf": {tok}, "codename": {name}})
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusServiceUnavailable:
		return errBusy
	case status != http.StatusSeeOther || loc != "/en/submit":
		return fmt.Errorf("POST /en/login: status %d, location %q", status, loc)
	}
	b.csrf, err = b.pageCSRF(ctx, "/en/submit")
	return err
}

// submit posts a submission: the CSRF token first, as browsers send the
// form's fields in document order, then parts. It returns once the
// receipt redirect arrived, that is once the server committed the
// submission to disk.
func (b *browser) submit(ctx context.Context, parts ...part) error {
	body, n := formBody(append([]part{{Name: "csrf", Value: b.csrf}}, parts...)...)
	status, loc, _, err := b.do(ctx, http.MethodPost, "/en/submit", multipartType, body(), n)
	switch {
	case err != nil:
		return err
	case status == http.StatusServiceUnavailable:
		return errBusy
	case status != http.StatusSeeOther || loc != "/en/receipt":
		return fmt.Errorf("POST /en/submit: status %d, location %q", status, loc)
	}
	return nil
}

// sources returns n browsers logged in to a sandyq server, as distinct
// sources as far as the server's limits allow: new codenames while the
// new-codename rate limit lets them through, then logins with those
// codenames (the login limit is separate), waiting for the buckets to
// refill when both are empty.
func sources(ctx context.Context, base string, rt http.RoundTripper, n int, timeout time.Duration) ([]*browser, error) {
	var out []*browser
	var names []string
	deadline := time.Now().Add(3 * time.Minute)
	for len(out) < n {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d sources could log in within 3 minutes", len(out), n)
		}
		b := newBrowser(base, rt, timeout)
		name, err := b.newCodename(ctx)
		if err == nil {
			names = append(names, name)
			out = append(out, b)
			continue
		}
		if !errors.Is(err, errBusy) {
			return nil, err
		}
		if len(names) == 0 {
			if err := sleep(ctx, time.Second); err != nil {
				return nil, err
			}
			continue
		}
		err = b.login(ctx, names[len(out)%len(names)])
		switch {
		case err == nil:
			out = append(out, b)
		case errors.Is(err, errBusy):
			if err := sleep(ctx, time.Second); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	return out, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onionShareUpload posts parts to OnionShare's receive form (POST /upload,
// the form's file field is "file[]" and its text field "text"). OnionShare
// answers a finished upload with a redirect to its page.
func onionShareUpload(ctx context.Context, hc *http.Client, base string, parts ...part) error {
	body, n := formBody(parts...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/upload", body())
	if err != nil {
		return err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", multipartType)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST /upload: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /upload: status %d", resp.StatusCode)
	}
	return nil
}

// noRedirects returns a client that uses rt and follows no redirect.
func noRedirects(rt http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport:     rt,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// waitHTTP polls url with GET until it answers 200, or fails after timeout.
func waitHTTP(ctx context.Context, hc *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		if sleep(ctx, 200*time.Millisecond) != nil {
			return fmt.Errorf("%s did not answer within %v: %v", url, timeout, last)
		}
	}
}
