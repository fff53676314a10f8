package japi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sandyq/client/bundle"
	"sandyq/crypto/reqsign"
	"sandyq/crypto/sign"
	"sandyq/server/journalists"
	"sandyq/server/keyring"
	"sandyq/server/onion"
	"sandyq/server/store"
)

type fixture struct {
	st       *store.Store
	reg      *journalists.Registry
	kr       *keyring.Keyring
	inst     *sign.PrivateKey
	alice    *sign.PrivateKey
	bob      *sign.PrivateKey
	srv      *httptest.Server
	h        *Handler
	now      time.Time
	contents map[store.ItemID][]byte
	srcs     []store.SourceID
}

const replyRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

func key(t *testing.T, k sign.Kind, b byte) *sign.PrivateKey {
	t.Helper()
	p, err := sign.NewPrivateKey(bytes.Repeat([]byte{b}, 32), k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newFixture(t *testing.T, cfg func(*Config)) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), contents: map[store.ItemID][]byte{}}
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if f.reg, err = journalists.Load(st); err != nil {
		t.Fatal(err)
	}
	f.inst, f.alice, f.bob = key(t, sign.Instance, 1), key(t, sign.Access, 2), key(t, sign.Access, 3)
	if _, err := f.reg.Add("alice", f.alice.Public(), onion.ClientKey{2}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Add("bob", f.bob.Public(), onion.ClientKey{3}, 1); err != nil {
		t.Fatal(err)
	}
	if f.kr, err = keyring.New(st, key(t, sign.Newsroom, 7).Public(), func() time.Time { return f.now }); err != nil {
		t.Fatal(err)
	}
	c := Config{Store: st, Registry: f.reg, InstanceKey: f.inst, Keyring: f.kr, Now: func() time.Time { return f.now }}
	if cfg != nil {
		cfg(&c)
	}
	if f.h, err = New(c); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	for i := range 2 {
		src := store.SourceID{byte(i + 1)}
		if err := st.CreateSource(src, replyRecipient); err != nil {
			t.Fatal(err)
		}
		f.srcs = append(f.srcs, src)
	}
	return f
}

// addItem commits an item of n bytes (opaque to the API) for source i.
func (f *fixture) addItem(t *testing.T, i, n int) store.ItemID {
	t.Helper()
	w, err := f.st.NewItem(f.srcs[i], store.KindFile, [16]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	rand.Read(data)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Commit(w); err != nil {
		t.Fatal(err)
	}
	f.contents[w.ID()] = data
	return w.ID()
}

func (f *fixture) client(k *sign.PrivateKey) *Client {
	return &Client{Base: f.srv.URL, HTTP: f.srv.Client(), Key: k, Rand: rand.Reader, Now: func() time.Time { return f.now }}
}

// fetch gets a bundle and reads it back fully, checking every item.
func (f *fixture) fetch(t *testing.T, c *Client, after *uint64) (*BundleInfo, *bundle.Manifest) {
	t.Helper()
	var buf bytes.Buffer
	info, err := c.Bundle(context.Background(), after, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Empty {
		return info, nil
	}
	r, err := bundle.NewReader(&buf, bundle.Submissions, bundle.TrustKeys(f.inst.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, item, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(item)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, f.contents[store.ItemID(e.ID)]) {
			t.Fatalf("item %x: bytes differ from the store's", e.ID[:4])
		}
	}
	return info, r.Manifest()
}

func TestFetchAckIncremental(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client(f.alice)
	ctx := context.Background()
	if info, _ := f.fetch(t, c, nil); !info.Empty || info.UpTo != 0 {
		t.Fatalf("empty store: %+v", info)
	}
	for i := range 3 {
		f.addItem(t, i%2, 1000*(i+1))
	}
	info, m := f.fetch(t, c, nil)
	if info.Empty || info.More || info.UpTo != 3 || len(m.Items) != 3 || len(m.Sources) != 2 {
		t.Fatalf("first fetch: %+v, %d items", info, len(m.Items))
	}
	if m.Sources[0].ReplyRecipient != replyRecipient {
		t.Fatalf("reply recipient %q", m.Sources[0].ReplyRecipient)
	}
	// Until acknowledged, the same items come again.
	if info2, _ := f.fetch(t, c, nil); info2.UpTo != 3 || info2.Empty {
		t.Fatalf("refetch before ack: %+v", info2)
	}
	if err := c.Ack(ctx, info.UpTo); err != nil {
		t.Fatal(err)
	}
	if info, _ := f.fetch(t, c, nil); !info.Empty {
		t.Fatalf("after ack: %+v, want nothing new", info)
	}
	// Bob's cursor is his own.
	if info, _ := f.fetch(t, f.client(f.bob), nil); info.Empty {
		t.Fatal("bob got nothing: cursors are per journalist")
	}
	id := f.addItem(t, 1, 10)
	_, m = f.fetch(t, c, nil)
	if len(m.Items) != 1 || m.Items[0].ID != id || m.After != 3 {
		t.Fatalf("incremental fetch: %+v", m)
	}
	// Items acknowledged are marked fetched; the new one is not yet.
	items, _ := f.st.ListItems(0, 0)
	for _, it := range items {
		if it.Fetched != (it.ID != id) {
			t.Errorf("item %d fetched=%v", it.Cursor, it.Fetched)
		}
	}
	// An explicit cursor fetches everything again.
	zero := uint64(0)
	if _, m := f.fetch(t, c, &zero); len(m.Items) != 4 {
		t.Fatalf("after=0: %d items", len(m.Items))
	}
	// An ack beyond the newest cursor is refused.
	var ae *Error
	if err := c.Ack(ctx, 99); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("ack beyond newest: %v", err)
	}
}

func TestBundleLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxItems = 2; c.MaxBytes = 5000 })
	c := f.client(f.alice)
	for _, n := range []int{100, 100, 100, 4000, 4000, 6000} {
		f.addItem(t, 0, n)
	}
	var got []int
	var after uint64
	for range 10 {
		info, m := f.fetch(t, c, &after)
		if info.Empty {
			break
		}
		got = append(got, len(m.Items))
		if info.More != (info.UpTo < 6) {
			t.Fatalf("More=%v at up_to %d", info.More, info.UpTo)
		}
		after = info.UpTo
	}
	// 2 by count, then 100+4000 fit but not +4000, then 4000 alone, then
	// 6000 alone (over the byte cap, but one item always goes).
	if fmt.Sprint(got) != "[2 2 1 1]" {
		t.Fatalf("bundle sizes %v", got)
	}
}

func signedRequest(t *testing.T, f *fixture, k *sign.PrivateKey, method, target string, at time.Time) *http.Request {
	t.Helper()
	h, err := reqsign.Sign(k, reqsign.Request{Method: method, Target: target, Time: at.Unix()}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, f.srv.URL+target, nil)
	req.Header.Set(reqsign.Header, h)
	return req
}

func status(t *testing.T, f *fixture, req *http.Request) (int, string) {
	t.Helper()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, nil)
	stranger := key(t, sign.Access, 7)
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		msg    string
	}{
		{"no header", func() *http.Request { r, _ := http.NewRequest("GET", f.srv.URL+"/v1/bundle", nil); return r }, 401, "not authorised"},
		{"garbage", func() *http.Request {
			r, _ := http.NewRequest("GET", f.srv.URL+"/v1/bundle", nil)
			r.Header.Set(reqsign.Header, "v1 x")
			return r
		}, 401, "not authorised"},
		{"unregistered key", func() *http.Request { return signedRequest(t, f, stranger, "GET", "/v1/bundle", f.now) }, 401, "not authorised"},
		{"signed for another target", func() *http.Request {
			r := signedRequest(t, f, f.alice, "GET", "/v1/bundle?after=0", f.now)
			r.URL.RawQuery = ""
			return r
		}, 401, "not authorised"},
		{"too old", func() *http.Request {
			return signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now.Add(-6*time.Minute))
		}, 401, "clock"},
		{"too new", func() *http.Request {
			return signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now.Add(6*time.Minute))
		}, 401, "clock"},
		{"before the server started", func() *http.Request {
			return signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now.Add(-time.Second))
		}, 401, "clock"},
		{"valid", func() *http.Request { return signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now) }, 204, ""},
		{"wrong method", func() *http.Request { return signedRequest(t, f, f.alice, "POST", "/v1/bundle", f.now) }, 405, "use GET"},
		{"unknown path", func() *http.Request { return signedRequest(t, f, f.alice, "GET", "/v1/other", f.now) }, 404, ""},
		{"unknown query", func() *http.Request { return signedRequest(t, f, f.alice, "GET", "/v1/bundle?x=1", f.now) }, 400, "unknown query"},
		{"non-canonical cursor", func() *http.Request { return signedRequest(t, f, f.alice, "GET", "/v1/bundle?after=01", f.now) }, 400, "decimal"},
	}
	for _, c := range cases {
		code, msg := status(t, f, c.req())
		if code != c.status || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, msg, c.status, c.msg)
		}
	}
	// A replayed request is refused, even word for word.
	req := signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now)
	if code, _ := status(t, f, req); code != 204 {
		t.Fatalf("first use: %d", code)
	}
	again, _ := http.NewRequest("GET", f.srv.URL+"/v1/bundle", nil)
	again.Header = req.Header.Clone()
	if code, msg := status(t, f, again); code != 401 || msg != "replayed request" {
		t.Fatalf("replay: %d %q", code, msg)
	}
	// Revocation takes effect at the next request.
	if _, err := f.reg.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	if code, _ := status(t, f, signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now)); code != 401 {
		t.Fatalf("revoked journalist: %d", code)
	}
}

func TestNonceExpiry(t *testing.T) {
	f := newFixture(t, nil)
	for range 3 {
		if code, _ := status(t, f, signedRequest(t, f, f.bob, "GET", "/v1/bundle", f.now)); code != 204 {
			t.Fatal(code)
		}
	}
	f.now = f.now.Add(2 * Window)
	status(t, f, signedRequest(t, f, f.bob, "GET", "/v1/bundle", f.now))
	f.h.mu.Lock()
	n := len(f.h.nonces)
	f.h.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d nonces remembered after the window passed, want 1", n)
	}
}

// replyBundle makes a reply bundle signed by k.
func replyBundle(t *testing.T, k *sign.PrivateKey, replies []bundle.Reply, data [][]byte) []byte {
	t.Helper()
	m := &bundle.Manifest{Type: bundle.Replies, Replies: replies}
	var buf bytes.Buffer
	w, err := bundle.NewWriter(&buf, m, k)
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, ok := w.Next()
		if !ok {
			break
		}
		for i, r := range replies {
			if r.ID == e.ID {
				if err := w.WriteItem(bytes.NewReader(data[i])); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reply(id byte, src store.SourceID, data []byte) bundle.Reply {
	return bundle.Reply{ID: [16]byte{id}, Source: src, Size: int64(len(data)), SHA256: sha(data)}
}

func TestReplies(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client(f.alice)
	ctx := context.Background()
	one := append([]byte("age-encryption.org/v1\n"), "one"...)
	two := append([]byte("age-encryption.org/v1\n"), "two"...)
	b := replyBundle(t, f.alice, []bundle.Reply{reply(1, f.srcs[0], one), reply(2, f.srcs[1], two)}, [][]byte{one, two})
	res, err := c.PushReplies(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil || res.Stored != 2 || res.Already != 0 {
		t.Fatalf("push: %+v, %v", res, err)
	}
	res, err = c.PushReplies(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil || res.Stored != 0 || res.Already != 2 {
		t.Fatalf("second push: %+v, %v", res, err)
	}
	rc, err := f.st.OpenReply(f.srcs[1], [16]byte{2})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, two) {
		t.Fatalf("stored reply %q", got)
	}

	refused := []struct {
		name   string
		body   []byte
		status int
	}{
		// Signed by Bob, sent by Alice: the bundle's signer must be the caller.
		{"other signer", replyBundle(t, f.bob, []bundle.Reply{reply(3, f.srcs[0], one)}, [][]byte{one}), 400},
		{"unknown source", replyBundle(t, f.alice, []bundle.Reply{reply(4, f.srcs[0], one), reply(5, store.SourceID{77}, one)}, [][]byte{one, one}), 404},
		{"not age", replyBundle(t, f.alice, []bundle.Reply{reply(6, f.srcs[0], []byte("plain"))}, [][]byte{[]byte("plain")}), 400},
		{"same ID, other bytes", replyBundle(t, f.alice, []bundle.Reply{reply(1, f.srcs[0], two)}, [][]byte{two}), 409},
		{"truncated", b[:len(b)-1], 400},
		{"submissions bundle", func() []byte {
			var buf bytes.Buffer
			f.addItem(t, 0, 5)
			f.client(f.alice).Bundle(ctx, nil, &buf, nil)
			return buf.Bytes()
		}(), 400},
	}
	for _, r := range refused {
		_, err := c.PushReplies(ctx, bytes.NewReader(r.body), int64(len(r.body)))
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != r.status {
			t.Errorf("%s: %v, want status %d", r.name, err, r.status)
		}
	}
	// Nothing of the refused bundles was stored: reply 4 came with an
	// unknown source in the same bundle.
	for _, id := range []byte{3, 4, 6} {
		if _, err := f.st.OpenReply(f.srcs[0], [16]byte{id}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("reply %d stored from a refused bundle", id)
		}
	}
	big := make([]byte, MaxReplyBundle+1)
	if _, err := c.PushReplies(ctx, bytes.NewReader(big), int64(len(big))); err == nil || !strings.Contains(err.Error(), "413") {
		t.Errorf("oversized body: %v", err)
	}
}

func TestResponseHeaders(t *testing.T) {
	f := newFixture(t, nil)
	f.addItem(t, 0, 10)
	for _, req := range []*http.Request{
		signedRequest(t, f, f.alice, "GET", "/v1/bundle", f.now),
		signedRequest(t, f, key(t, sign.Access, 9), "GET", "/v1/bundle", f.now),
	} {
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, h := range []string{"Date", "Server", "Set-Cookie"} {
			if resp.Header.Get(h) != "" {
				t.Errorf("%d: header %s present", resp.StatusCode, h)
			}
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%d: headers %v", resp.StatusCode, resp.Header)
		}
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }
