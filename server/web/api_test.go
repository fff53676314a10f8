package web

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/server/store"
)

// apiClient calls the source API of an env. Every answer it gets is
// checked for the fixed header set (wantAPIHeaders).
type apiClient struct {
	e     *env
	token string
}

// apiEnv is newEnv for the API tests: the Handler is closed at the end,
// and no test secret (codenames, tokens) may appear in the log.
func apiEnv(t *testing.T, opts ...envOption) *env {
	e := newEnv(t, opts...)
	t.Cleanup(func() {
		e.h.Close()
		log := e.log.String()
		for _, secret := range []string{"abacus", "zoom", "Bearer"} {
			if strings.Contains(log, secret) {
				t.Errorf("the log holds %q:\n%s", secret, log)
			}
		}
	})
	return e
}

// wantAPIHeaders fails unless an API answer carries the fixed header set
// and nothing that identifies the server.
func wantAPIHeaders(t testing.TB, what string, status int, h http.Header) {
	t.Helper()
	fixed := http.Header{}
	setFixedHeaders(fixed, "")
	for k, v := range fixed {
		if k == "Content-Type" || k == "Date" {
			continue
		}
		if got := h.Values(k); len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s: header %s is %q, want %q", what, k, got, v[0])
		}
	}
	for _, k := range []string{"Date", "Server", "Set-Cookie"} {
		if h.Get(k) != "" {
			t.Errorf("%s: answer has a %s header", what, k)
		}
	}
	want := contentTypeJSON
	switch {
	case status == http.StatusNoContent:
		want = ""
	case status == http.StatusOK && strings.HasSuffix(what, "recipients"):
		want = contentTypeText
	}
	if got := h.Get("Content-Type"); got != want {
		t.Errorf("%s: Content-Type %q, want %q", what, got, want)
	}
}

// raw sends a request with the given body and extra headers (no
// Content-Type unless given) and returns the status and the decoded JSON
// answer (or {"raw": body}).
func (c *apiClient) raw(method, path string, body []byte, hdr ...string) (int, map[string]any) {
	c.e.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+"/api/v1/"+path, r)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.e.srv.Client().Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	wantAPIHeaders(c.e.t, method+" "+path, resp.StatusCode, resp.Header)
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		m = map[string]any{"raw": string(b)}
	}
	if resp.StatusCode >= 400 && method != http.MethodHead {
		if msg, ok := m["error"].(string); !ok || msg == "" {
			c.e.t.Errorf("%s %s: %d without an error text: %q", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m
}

// call sends body as JSON (PUT bodies as they are).
func (c *apiClient) call(method, path string, body []byte) (int, map[string]any) {
	c.e.t.Helper()
	if body != nil && method != http.MethodPut {
		return c.raw(method, path, body, "Content-Type", "application/json")
	}
	return c.raw(method, path, body)
}

func jsonBody(v any) []byte { b, _ := json.Marshal(v); return b }

// login creates (or logs in) the source with codename code.
func (c *apiClient) login(code string, create bool) int {
	c.e.t.Helper()
	st, m := c.call("POST", "session", jsonBody(map[string]any{"codename": code, "create": create}))
	if tok, ok := m["token"].(string); ok {
		c.token = tok
	}
	return st
}

// reserve reserves an item of size bytes.
func (c *apiClient) reserve(kind string, set [16]byte, size int64) (int, store.ItemID, uint64) {
	c.e.t.Helper()
	st, m := c.call("POST", "items", jsonBody(map[string]any{"kind": kind, "set": hex.EncodeToString(set[:]), "size": size}))
	var id store.ItemID
	if s, ok := m["id"].(string); ok {
		hex.Decode(id[:], []byte(s))
	}
	seq, _ := m["seq"].(float64)
	return st, id, uint64(seq)
}

// sealed is an age file of a message envelope for the env's newsroom
// identity.
func (c *apiClient) sealed(id store.ItemID, seq uint64, src store.SourceID, content []byte) []byte {
	var buf bytes.Buffer
	w, err := envelope.Seal(&buf, &envelope.Header{ItemID: id, SourceID: src, Kind: envelope.Message, Sequence: seq},
		c.e.identity.Recipient())
	if err != nil {
		c.e.t.Fatal(err)
	}
	w.Write(content)
	if err := w.Close(); err != nil {
		c.e.t.Fatal(err)
	}
	return buf.Bytes()
}

// sizeOf is the age file size of a message envelope of content: the
// header's IDs do not change it.
func (c *apiClient) sizeOf(content []byte) int64 {
	return int64(len(c.sealed(store.ItemID{}, 0, store.SourceID{}, content)))
}

// send reserves and uploads a message, and returns the PUT's status and
// the reservation.
func (c *apiClient) send(content []byte) (int, store.ItemID, uint64) {
	c.e.t.Helper()
	st, id, seq := c.reserve("message", c.e.setID(), c.sizeOf(content))
	if st != http.StatusCreated {
		c.e.t.Fatalf("reserve: %d", st)
	}
	body := c.sealed(id, seq, c.e.sourceID(apiCode), content)
	st, _ = c.call("PUT", "items/"+hex.EncodeToString(id[:]), body)
	return st, id, seq
}

func (e *env) setID() [16]byte {
	s, _, _ := e.h.cfg.RecipientSet()
	return s.ID
}

// reservations returns the reservation slots taken, of all sessions.
func (e *env) reservations() int { return len(e.h.apiSess.reserved) }

// wantClean fails unless no reservation is open and the store holds no
// pending upload.
func (e *env) wantClean(what string) {
	e.t.Helper()
	if n := e.reservations(); n != 0 {
		e.t.Errorf("%s: %d reservations still open", what, n)
	}
	if st, err := e.store.Stats(); err != nil || st.Pending != 0 {
		e.t.Errorf("%s: store stats %+v, %v: want no pending upload", what, st, err)
	}
}

// waitFor polls cond until it holds, for at most a minute: for what a
// timer or another goroutine finishes (not a timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

const (
	apiCode  = "abacus abdomen abdominal abide abiding ability ablaze"
	apiCode2 = "zoom zone zoning zookeeper zoologist zoology zigzagged"
)

func TestAPIFlow(t *testing.T) {
	e := apiEnv(t)
	c := &apiClient{e: e}
	// The signed set, byte for byte.
	st, m := c.call("GET", "recipients", nil)
	signed, _, _ := e.h.cfg.RecipientSet()
	if st != 200 || m["raw"] != string(signed.Raw) {
		t.Fatalf("recipients: %d %v", st, m)
	}
	if st := c.login(apiCode, false); st != 404 || c.token != "" {
		t.Fatalf("unknown codename: %d", st)
	}
	if st := c.login(apiCode, true); st != 201 || len(c.token) != 64 {
		t.Fatalf("create: %d, token %d digits", st, len(c.token))
	}
	if st := (&apiClient{e: e}).login(apiCode, true); st != 409 {
		t.Fatalf("create again: %d", st)
	}
	c2 := &apiClient{e: e}
	if st := c2.login("  Abacus abdomen\tabdominal abide abiding ability ABLAZE ", false); st != 200 || c2.token == c.token {
		t.Fatalf("log in again (normalised): %d", st)
	}
	src := e.sourceID(apiCode)
	_, m = (&apiClient{e: e}).call("POST", "session", jsonBody(map[string]any{"codename": apiCode, "create": false}))
	if m["source"] != hex.EncodeToString(src[:]) {
		t.Fatalf("source %v, want the derived source ID", m["source"])
	}

	// A message large enough to span several store chunks and age chunks.
	want := bytes.Repeat([]byte("encrypted on the source's machine. "), 30000)
	st, id, seq := c.send(want)
	if st != 201 {
		t.Fatalf("upload: %d", st)
	}
	items := e.items(apiCode)
	if len(items) != 1 || items[0].ID != id || items[0].Seq != seq || items[0].SetID != e.setID() ||
		items[0].Kind != store.KindMessage || items[0].Size != c.sizeOf(want) {
		t.Fatalf("items %+v", items)
	}
	if h, got := e.open(items[0]); !bytes.Equal(got, want) || h.ItemID != id || h.SourceID != src {
		t.Fatalf("stored %d bytes, header %+v", len(got), h)
	}
	// The second session of the same source gets the next sequence number.
	if st, _, seq2 := c2.send([]byte("second")); st != 201 || seq2 <= seq {
		t.Fatalf("second session: %d, seq %d after %d", st, seq2, seq)
	}
	if st, _ := c.call("PUT", "items/"+hex.EncodeToString(id[:]), c.sealed(id, seq, src, want)); st != 404 {
		t.Fatalf("second upload to a committed reservation: %d", st)
	}
	if st, _ := c.call("DELETE", "session", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _, _ := c.reserve("message", e.setID(), 100); st != 401 {
		t.Fatalf("after logout: %d", st)
	}
	if st, _ := c.call("DELETE", "session", nil); st != 401 {
		t.Fatalf("second logout: %d", st)
	}
	e.wantClean("after the flow")
	if log := e.log.String(); strings.Contains(log, c.token) || strings.Contains(log, c2.token) {
		t.Fatal("a token was logged")
	}
}

func TestAPIStrictJSON(t *testing.T) {
	e := apiEnv(t)
	c := &apiClient{e: e}
	code := `"codename":"` + apiCode + `"`
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"unknown field", `{` + code + `,"create":true,"admin":true}`, 400},
		{"missing field", `{` + code + `}`, 400},
		{"duplicate key", `{` + code + `,"create":false,"create":true}`, 400},
		{"key in another case", `{"Codename":"` + apiCode + `","create":true}`, 400},
		{"both cases", `{` + code + `,"CODENAME":"x","create":true}`, 400},
		{"nested value", `{` + code + `,"create":{"x":true}}`, 400},
		{"array value", `{` + code + `,"create":[true]}`, 400},
		{"null value", `{` + code + `,"create":null}`, 400},
		{"wrong type", `{` + code + `,"create":"yes"}`, 400},
		{"two values", `{` + code + `,"create":true}{}`, 400},
		{"trailing garbage", `{` + code + `,"create":true}x`, 400},
		{"array", `[` + code + `]`, 400},
		{"not json", `codename=x&create=true`, 400},
		{"empty", ``, 400},
		{"over 1 KiB", `{"codename":"` + strings.Repeat("a", 2000) + `","create":true}`, 413},
		{"codename over 256 bytes", `{"codename":"` + strings.Repeat("a ", 200) + `","create":true}`, 400},
		{"not a codename", `{"codename":"one two three four five six seven","create":true}`, 400},
	} {
		if st, _ := c.call("POST", "session", []byte(tc.body)); st != tc.want {
			t.Errorf("session, %s: %d, want %d", tc.name, st, tc.want)
		}
	}
	good := jsonBody(map[string]any{"codename": apiCode, "create": true})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		if st, _ := c.raw("POST", "session", good, "Content-Type", ct); st != 400 {
			t.Errorf("session with Content-Type %q: %d", ct, st)
		}
	}
	if st, _ := c.raw("POST", "session", good, "Content-Type", "application/json; charset=utf-8"); st != 201 {
		t.Fatalf("session with a charset: %d", st)
	}
	if st, m := c.raw("POST", "session", good, "Content-Type", "application/json"); st != 409 || strings.Contains(fmt.Sprint(m), "abacus") {
		t.Errorf("create again: %d %v: want 409 without the codename", st, m)
	}
	if st := c.login(apiCode, false); st != 200 {
		t.Fatalf("login: %d", st)
	}
	set := hex.EncodeToString(func() []byte { s := e.setID(); return s[:] }())
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"unknown field", `{"kind":"file","set":"` + set + `","size":100,"name":"x"}`, 400},
		{"duplicate key", `{"kind":"file","set":"` + set + `","size":100,"size":200}`, 400},
		{"missing size", `{"kind":"file","set":"` + set + `"}`, 400},
		{"negative size", `{"kind":"file","set":"` + set + `","size":-1}`, 400},
		{"fractional size", `{"kind":"file","set":"` + set + `","size":1.5}`, 400},
		{"size as string", `{"kind":"file","set":"` + set + `","size":"100"}`, 400},
		{"kind reply", `{"kind":"reply","set":"` + set + `","size":100}`, 400},
		{"upper-case set", `{"kind":"file","set":"` + strings.ToUpper(set) + `","size":100}`, 400},
		{"short set", `{"kind":"file","set":"abcd","size":100}`, 400},
	} {
		if st, _ := c.call("POST", "items", []byte(tc.body)); st != tc.want {
			t.Errorf("items, %s: %d, want %d", tc.name, st, tc.want)
		}
	}
	e.wantClean("after refused reservations")
}

func TestAPITokens(t *testing.T) {
	e := apiEnv(t)
	c := &apiClient{e: e}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatal(st)
	}
	set := e.setID()
	st, id, _ := c.reserve("file", set, 100)
	if st != 201 {
		t.Fatal(st)
	}
	good := c.token
	body := jsonBody(map[string]any{"kind": "file", "set": hex.EncodeToString(set[:]), "size": 100})
	for name, hdr := range map[string][]string{
		"no Authorization":     nil,
		"unknown token":        {"Authorization", "Bearer " + strings.Repeat("ab", 32)},
		"token one digit off":  {"Authorization", "Bearer " + good[:63] + map[bool]string{true: "1", false: "0"}[good[63] == '0']},
		"lower-case scheme":    {"Authorization", "bearer " + good},
		"no scheme":            {"Authorization", good},
		"Basic":                {"Authorization", "Basic " + good},
		"short token":          {"Authorization", "Bearer " + good[:62]},
		"long token":           {"Authorization", "Bearer " + good + "00"},
		"two spaces":           {"Authorization", "Bearer  " + good},
		"two headers":          {"Authorization", "Bearer " + good, "Authorization", "Bearer " + good},
		"upper-case token":     {"Authorization", "Bearer " + strings.ToUpper(good)},
		"cookie, no header":    {"Cookie", "sid=" + good},
		"token in the wrong h": {"X-Authorization", "Bearer " + good},
	} {
		anon := &apiClient{e: e}
		hdrs := append([]string{"Content-Type", "application/json"}, hdr...)
		if name == "upper-case token" && strings.ToUpper(good) == good {
			continue
		}
		if st, _ := anon.raw("POST", "items", body, hdrs...); st != 401 {
			t.Errorf("reserve, %s: %d, want 401", name, st)
		}
		if st, _ := anon.raw("PUT", "items/"+hex.EncodeToString(id[:]), make([]byte, 100), hdr...); st != 401 {
			t.Errorf("upload, %s: %d, want 401", name, st)
		}
		if st, _ := anon.raw("DELETE", "session", nil, hdr...); st != 401 {
			t.Errorf("logout, %s: %d, want 401", name, st)
		}
	}
	// Another source's session cannot reach this reservation.
	other := &apiClient{e: e}
	if st := other.login(apiCode2, true); st != 201 {
		t.Fatal(st)
	}
	if st, _ := other.call("PUT", "items/"+hex.EncodeToString(id[:]), make([]byte, 100)); st != 404 {
		t.Errorf("upload into another session's reservation: %d", st)
	}
	if n := e.reservations(); n != 1 {
		t.Errorf("%d reservations open, want 1: refusals must not touch it", n)
	}
	if st, _ := c.call("DELETE", "session", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	e.wantClean("after logout")
	if log := e.log.String(); strings.Contains(log, good) || strings.Contains(log, other.token) {
		t.Fatal("a token was logged")
	}
}

func TestAPIReserveRefusals(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 50)
	e := apiEnv(t, func(c *Config) {
		c.DiskFree = func() (uint64, error) { return free.Load(), nil }
		c.Limits.MaxReservations = 20
	})
	c := &apiClient{e: e}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatal(st)
	}
	set := e.setID()
	for _, tc := range []struct {
		name string
		set  [16]byte
		size int64
		want int
	}{
		{"another set", [16]byte{9}, 100, 409},
		{"size 0", set, 0, 400},
		{"size of the age line only", set, int64(len(ageHeaderLine)), 400},
		{"over the size limit", set, 8<<20 + 1, 413},
	} {
		if st, _, _ := c.reserve("file", tc.set, tc.size); st != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, st, tc.want)
		}
	}
	if st, _, _ := c.reserve("file", set, 8<<20); st != 201 {
		t.Errorf("at the size limit: %d", st)
	}
	free.Store(1 << 20) // below the floor: closed before anything is reserved
	if st, _, _ := c.reserve("file", set, 100); st != 503 {
		t.Errorf("below the disk floor: %d", st)
	}
	if st, _ := c.call("GET", "recipients", nil); st != 503 {
		t.Errorf("recipients below the disk floor: %d", st)
	}
	free.Store(1 << 50)
	// At most 16 open reservations per session.
	for i := 1; i < apiMaxReservations; i++ {
		if st, _, _ := c.reserve("file", set, 100); st != 201 {
			t.Fatalf("reservation %d: %d", i+1, st)
		}
	}
	if st, _, _ := c.reserve("file", set, 100); st != 429 {
		t.Fatalf("17th reservation: %d", st)
	}
	// At most MaxReservations in all.
	c2 := &apiClient{e: e}
	if st := c2.login(apiCode2, true); st != 201 {
		t.Fatal(st)
	}
	for i := apiMaxReservations; i < 20; i++ {
		if st, _, _ := c2.reserve("file", set, 100); st != 201 {
			t.Fatalf("reservation %d: %d", i+1, st)
		}
	}
	if st, _, _ := c2.reserve("file", set, 100); st != 503 {
		t.Fatalf("reservation over MaxReservations: %d", st)
	}
	c.call("DELETE", "session", nil)
	if n := e.reservations(); n != 20-apiMaxReservations {
		t.Fatalf("logout left %d reservations open, want the other session's %d", n, 20-apiMaxReservations)
	}
	if st, _, _ := c2.reserve("file", set, 100); st != 201 {
		t.Fatalf("after the other session logged out: %d", st)
	}
	c2.call("DELETE", "session", nil)
	e.wantClean("after both logouts")
	e.wantNoItems()
}

// putRaw sends a PUT by hand on a new connection: its header lines, then
// body, then it closes its side of the connection (a client that went
// away). It returns the answer's status, or 0 if there was none.
func putRaw(t *testing.T, e *env, path, token string, header string, body []byte) int {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /api/v1/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n", path, token, header)
	conn.Write(body)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	wantAPIHeaders(t, "PUT "+path, resp.StatusCode, resp.Header)
	return resp.StatusCode
}

func TestAPIUploadFailuresAbort(t *testing.T) {
	e := apiEnv(t, withLimits(func(l *Limits) { l.MaxConcurrentUploads = 1 }))
	c := &apiClient{e: e}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatal(st)
	}
	src, set := e.sourceID(apiCode), e.setID()
	// 600 KiB: the store writes two chunks (and a pending record) before
	// the upload fails at its end.
	content := bytes.Repeat([]byte{'x'}, 600<<10)
	size := c.sizeOf(content)
	for _, tc := range []struct {
		name string
		put  func(path string, body []byte) int
		want int
	}{
		{"Content-Length one short", func(p string, b []byte) int { st, _ := c.call("PUT", p, b[:len(b)-1]); return st }, 400},
		{"Content-Length one over", func(p string, b []byte) int { st, _ := c.call("PUT", p, append(b, 0)); return st }, 400},
		{"no body", func(p string, b []byte) int { st, _ := c.call("PUT", p, nil); return st }, 400},
		{"not an age file", func(p string, b []byte) int {
			b = bytes.Clone(b)
			b[0] = 'A'
			st, _ := c.call("PUT", p, b)
			return st
		}, 400},
		{"age line without its newline", func(p string, b []byte) int {
			b = bytes.Clone(b)
			b[len(ageHeaderLine)-1] = ' '
			st, _ := c.call("PUT", p, b)
			return st
		}, 400},
		{"chunked", func(p string, b []byte) int {
			var chunked bytes.Buffer
			fmt.Fprintf(&chunked, "%x\r\n%s\r\n0\r\n\r\n", len(b), b)
			return putRaw(t, e, p, c.token, "Transfer-Encoding: chunked\r\n", chunked.Bytes())
		}, 400},
		{"client gone after 400 KiB", func(p string, b []byte) int {
			putRaw(t, e, p, c.token, fmt.Sprintf("Content-Length: %d\r\n", len(b)), b[:400<<10])
			return 400 // whether the answer arrives or not
		}, 400},
		{"upload slots all taken", func(p string, b []byte) int {
			if !e.h.uploads.tryAcquire() {
				t.Fatal("an upload slot is taken")
			}
			defer e.h.uploads.release()
			st, _ := c.call("PUT", p, b)
			return st
		}, 503},
	} {
		st, id, seq := c.reserve("message", set, size)
		if st != 201 {
			t.Fatalf("%s: reserve %d", tc.name, st)
		}
		body := c.sealed(id, seq, src, content)
		path := "items/" + hex.EncodeToString(id[:])
		if st := tc.put(path, body); st != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, st, tc.want)
		}
		waitFor(t, tc.name+": the reservation to be aborted", func() bool { return e.reservations() == 0 })
		e.wantClean(tc.name)
		if st, _ := c.call("PUT", path, body); st != 404 {
			t.Errorf("%s: the reservation survived (%d)", tc.name, st)
		}
	}
	e.wantNoItems()
	// Unknown and malformed item IDs.
	for _, p := range []string{"items/" + strings.Repeat("0", 32), "items/" + strings.Repeat("A", 32), "items/x", "items/"} {
		if st, _ := c.call("PUT", p, []byte(ageHeaderLine+"x")); st != 404 {
			t.Errorf("PUT %s: %d, want 404", p, st)
		}
	}
	// And after all that, an upload works.
	if st, _, _ := c.send([]byte("still works")); st != 201 {
		t.Fatalf("upload after the failures: %d", st)
	}
}

func TestAPIReservationExpires(t *testing.T) {
	e := apiEnv(t)
	e.h.apiResLife = 20 * time.Millisecond
	c := &apiClient{e: e}
	c.login(apiCode, true)
	st, id, _ := c.reserve("file", e.setID(), 100)
	if st != 201 {
		t.Fatal(st)
	}
	waitFor(t, "the reservation to expire", func() bool { return e.reservations() == 0 })
	if st, _ := c.call("PUT", "items/"+hex.EncodeToString(id[:]), []byte(ageHeaderLine+strings.Repeat("x", 78))); st != 404 {
		t.Fatalf("upload to an expired reservation: %d", st)
	}
	e.wantClean("after expiry")
}

func TestAPISessionIdleExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	e := apiEnv(t, withClock(clock))
	c := &apiClient{e: e}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatal(st)
	}
	for range 3 {
		if st, _, _ := c.reserve("file", e.setID(), 100); st != 201 {
			t.Fatal(st)
		}
	}
	clock.Advance(e.h.lim.SessionIdle - time.Second)
	if st, _ := c.call("GET", "items", nil); st != 405 {
		t.Fatalf("GET items: %d", st)
	}
	if st, _, _ := c.reserve("file", e.setID(), 100); st != 201 {
		t.Fatalf("within the idle time: %d", st)
	}
	clock.Advance(e.h.lim.SessionIdle + time.Second)
	// Any request ends idle sessions, aborting their reservations.
	if st := (&apiClient{e: e}).login(apiCode2, true); st != 201 {
		t.Fatal(st)
	}
	e.wantClean("after the session expired")
	if st, _, _ := c.reserve("file", e.setID(), 100); st != 401 {
		t.Fatalf("expired session: %d", st)
	}
}

func TestAPISessionCap(t *testing.T) {
	e := apiEnv(t, withLimits(func(l *Limits) { l.MaxSessions = 2 }))
	var cs []*apiClient
	for range 3 {
		c := &apiClient{e: e}
		if st := c.login(apiCode, len(cs) == 0); st/100 != 2 {
			t.Fatal(st)
		}
		cs = append(cs, c)
	}
	// The first (idle the longest) was ended to make room.
	if st, _, _ := cs[0].reserve("file", e.setID(), 100); st != 401 {
		t.Errorf("evicted session: %d", st)
	}
	for i, c := range cs[1:] {
		if st, _, _ := c.reserve("file", e.setID(), 100); st != 201 {
			t.Errorf("session %d: %d", i+2, st)
		}
	}
}

func TestAPIClose(t *testing.T) {
	e := apiEnv(t)
	c := &apiClient{e: e}
	c.login(apiCode, true)
	for range 3 {
		c.reserve("file", e.setID(), 100)
	}
	if e.reservations() != 3 {
		t.Fatal(e.reservations())
	}
	e.h.Close()
	e.wantClean("after Close")
	if st, _, _ := c.reserve("file", e.setID(), 100); st != 401 {
		t.Errorf("reserve after Close: %d", st)
	}
	if st := (&apiClient{e: e}).login(apiCode, false); st != 503 {
		t.Errorf("login after Close: %d", st)
	}
}

func TestAPIBusy(t *testing.T) {
	e := apiEnv(t, withLimits(func(l *Limits) {
		l.KDFConcurrency = 1
		l.KDFQueueTimeout = time.Millisecond
		l.LoginsPerMinute = 2
	}))
	c := &apiClient{e: e}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatal(st)
	}
	// Every key derivation slot taken: 503 after the queue timeout.
	e.h.kdf <- struct{}{}
	if st := (&apiClient{e: e}).login(apiCode, false); st != 503 {
		t.Errorf("login with the KDF busy: %d", st)
	}
	<-e.h.kdf
	// The login bucket is shared with the form: the first attempt above
	// took one token, this one the last.
	if st := (&apiClient{e: e}).login(apiCode, false); st != 200 {
		t.Errorf("login: %d", st)
	}
	if st := (&apiClient{e: e}).login(apiCode, false); st != 503 {
		t.Errorf("login over the throttle: %d", st)
	}
}

func TestAPIMethodsAndPaths(t *testing.T) {
	e := apiEnv(t)
	c := &apiClient{e: e}
	c.login(apiCode, true)
	id := strings.Repeat("ab", 16)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "recipients", 405},
		{"HEAD", "recipients", 405},
		{"GET", "session", 405},
		{"PUT", "session", 405},
		{"GET", "items", 405},
		{"DELETE", "items", 405},
		{"GET", "items/" + id, 405},
		{"POST", "items/" + id, 405},
		{"DELETE", "items/" + id, 405},
		{"GET", "", 404},
		{"GET", "nothing", 404},
		{"GET", "recipients/", 404},
		{"GET", "items/" + id + "/x", 404},
		{"OPTIONS", "session", 405},
	} {
		st, _ := c.raw(tc.method, tc.path, nil)
		if st != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, st, tc.want)
		}
	}
	// /api/v2 does not exist.
	resp, err := e.srv.Client().Get(e.srv.URL + "/api/v2/recipients")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/api/v2: %d", resp.StatusCode)
	}
}

func TestAPISetChanged(t *testing.T) {
	id2, _ := age.GenerateX25519Identity()
	var next atomic.Pointer[recipients.Signed]
	e := apiEnv(t, func(c *Config) {
		first := c.RecipientSet
		c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) {
			if current := next.Load(); current != nil {
				return current, []age.Recipient{id2.Recipient()}, nil
			}
			return first()
		}
	})
	c := &apiClient{e: e}
	c.login(apiCode, true)
	old := e.setID()
	st, _, _ := c.reserve("file", old, 100)
	if st != 201 {
		t.Fatal(st)
	}
	now := time.Now()
	set, err := recipients.NewSet(rand.Reader, []string{id2.Recipient().String()}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	next.Store(&recipients.Signed{Set: *set, Raw: []byte("the next set\n")})
	if st, _, _ := c.reserve("file", old, 100); st != 409 {
		t.Errorf("reserve with the old set: %d", st)
	}
	if st, m := c.call("GET", "recipients", nil); st != 200 || m["raw"] != "the next set\n" {
		t.Errorf("recipients: %d %v", st, m)
	}
}

func TestAPIClosedWithoutSet(t *testing.T) {
	e := apiEnv(t, func(c *Config) {
		c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) { return nil, nil, ErrNoRecipientSet }
	})
	c := &apiClient{e: e}
	if st, _ := c.call("GET", "recipients", nil); st != 503 {
		t.Fatalf("recipients with no set: %d", st)
	}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatalf("login with no set: %d", st)
	}
	if st, _, _ := c.reserve("file", [16]byte{1}, 100); st != 503 {
		t.Fatalf("reserve with no set: %d", st)
	}
	e.wantClean("closed")
}
