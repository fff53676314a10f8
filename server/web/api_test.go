package web

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/server/store"
)

// apiClient calls the source API of an env.
type apiClient struct {
	e     *env
	token string
}

func (c *apiClient) call(method, path string, body []byte) (int, map[string]any, http.Header) {
	c.e.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+"/api/v1/"+path, r)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.e.srv.Client().Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, m, resp.Header
}

func jsonBody(v any) []byte { b, _ := json.Marshal(v); return b }

// login creates (or logs in) the source with codename code.
func (c *apiClient) login(code string, create bool) int {
	c.e.t.Helper()
	st, m, _ := c.call("POST", "session", jsonBody(map[string]any{"codename": code, "create": create}))
	if tok, ok := m["token"].(string); ok {
		c.token = tok
	}
	return st
}

// reserve reserves an item of size bytes.
func (c *apiClient) reserve(kind string, set [16]byte, size int64) (int, store.ItemID, uint64) {
	c.e.t.Helper()
	st, m, _ := c.call("POST", "items", jsonBody(map[string]any{"kind": kind, "set": hex.EncodeToString(set[:]), "size": size}))
	var id store.ItemID
	if s, ok := m["id"].(string); ok {
		hex.Decode(id[:], []byte(s))
	}
	seq, _ := m["seq"].(float64)
	return st, id, uint64(seq)
}

// sealed is an age file of an envelope for the env's newsroom identity.
func (c *apiClient) sealed(id store.ItemID, seq uint64, src store.SourceID, content string) []byte {
	var buf bytes.Buffer
	w, err := envelope.Seal(&buf, &envelope.Header{ItemID: id, SourceID: src, Kind: envelope.Message, Sequence: seq},
		c.e.identity.Recipient())
	if err != nil {
		c.e.t.Fatal(err)
	}
	io.WriteString(w, content)
	w.Close()
	return buf.Bytes()
}

func (e *env) setID() [16]byte {
	s, _, _ := e.h.cfg.RecipientSet()
	return s.ID
}

const apiCode = "abacus abdomen abdominal abide abiding ability ablaze"

func TestAPIFlow(t *testing.T) {
	e := newEnv(t)
	c := &apiClient{e: e}
	// The signed set, byte for byte.
	st, m, hdr := c.call("GET", "recipients", nil)
	signed, _, _ := e.h.cfg.RecipientSet()
	if st != 200 || m["raw"] != string(signed.Raw) || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("recipients: %d %v %v", st, m, hdr)
	}
	if st := c.login(apiCode, false); st != 404 {
		t.Fatalf("unknown codename: %d", st)
	}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatalf("create: %d", st)
	}
	if st := (&apiClient{e: e}).login(apiCode, true); st != 409 {
		t.Fatalf("create again: %d", st)
	}
	if st := (&apiClient{e: e}).login("  Abacus abdomen abdominal abide abiding ability ABLAZE ", false); st != 200 {
		t.Fatalf("log in again (normalised): %d", st)
	}
	src := e.sourceID(apiCode)
	want := "encrypted on the source's machine"
	st, id, seq := c.reserve("message", e.setID(), 0)
	if st != 413 {
		t.Fatalf("size 0: %d", st)
	}
	body := c.sealed(store.ItemID{}, 0, src, want) // size only
	st, id, seq = c.reserve("message", e.setID(), int64(len(body)))
	if st != 201 {
		t.Fatalf("reserve: %d", st)
	}
	body = c.sealed(id, seq, src, want)
	if st, m, _ := c.call("PUT", "items/"+hex.EncodeToString(id[:]), body); st != 201 || m["id"] != hex.EncodeToString(id[:]) {
		t.Fatalf("upload: %d %v", st, m)
	}
	items := e.items(apiCode)
	if len(items) != 1 || items[0].ID != id || items[0].SetID != e.setID() {
		t.Fatalf("items %+v", items)
	}
	if _, got := e.open(items[0]); string(got) != want {
		t.Fatalf("stored %q", got)
	}
	if st, _, _ := c.call("PUT", "items/"+hex.EncodeToString(id[:]), body); st != 404 {
		t.Fatalf("second upload to a committed reservation: %d", st)
	}
	if st, _, _ := c.call("DELETE", "session", nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _, _ := c.reserve("message", e.setID(), 100); st != 401 {
		t.Fatalf("after logout: %d", st)
	}
	if strings.Contains(e.log.String(), "abacus") || strings.Contains(e.log.String(), c.token) {
		t.Fatal("the codename or the token was logged")
	}
}

func TestAPIRefusals(t *testing.T) {
	e := newEnv(t)
	c := &apiClient{e: e}
	if st := c.login(apiCode, true); st != 201 {
		t.Fatal(st)
	}
	src := e.sourceID(apiCode)
	set := e.setID()
	stranger := &apiClient{e: e, token: strings.Repeat("ab", 32)}
	if st, _, _ := stranger.reserve("file", set, 100); st != 401 {
		t.Errorf("unknown token: %d", st)
	}
	for name, body := range map[string]string{
		"unknown field": `{"codename":"x","create":true,"admin":true}`,
		"missing field": `{"codename":"x"}`,
		"two values":    `{"codename":"x","create":true}{}`,
		"not json":      `codename=x`,
		"huge":          `{"codename":"` + strings.Repeat("a", 2000) + `","create":true}`,
	} {
		if st, _, _ := c.call("POST", "session", []byte(body)); st != 400 && st != 413 {
			t.Errorf("session %s: %d", name, st)
		}
	}
	if st, _, _ := c.reserve("reply", set, 100); st != 400 {
		t.Errorf("kind reply: %d", st)
	}
	if st, _, _ := c.reserve("file", [16]byte{9}, 100); st != 409 {
		t.Errorf("other set: %d", st)
	}
	if st, _, _ := c.reserve("file", set, 9<<20); st != 413 {
		t.Errorf("over the size limit: %d", st)
	}
	// Each failed upload aborts its reservation.
	fail := func(name string, mutate func(body []byte, url string) (int, string)) {
		t.Helper()
		body := c.sealed(store.ItemID{}, 0, src, "x")
		st, id, seq := c.reserve("message", set, int64(len(body)))
		if st != 201 {
			t.Fatalf("%s: reserve %d", name, st)
		}
		body = c.sealed(id, seq, src, "x")
		path := "items/" + hex.EncodeToString(id[:])
		if st, _ := mutate(body, path); st != 400 {
			t.Errorf("%s: %d, want 400", name, st)
		}
		if st, _, _ := c.call("PUT", path, body); st != 404 {
			t.Errorf("%s: the reservation survived (%d)", name, st)
		}
	}
	put := func(b []byte, path string) (int, string) {
		st, m, _ := c.call("PUT", path, b)
		return st, m["error"].(string)
	}
	fail("short body", func(b []byte, p string) (int, string) { return put(b[:len(b)-1], p) })
	fail("long body", func(b []byte, p string) (int, string) { return put(append(b, 0), p) })
	fail("not age", func(b []byte, p string) (int, string) { return put(bytes.Repeat([]byte("x"), len(b)), p) })
	if stats, _ := e.store.Stats(); stats.Pending != 0 || stats.Items != 0 {
		t.Fatalf("after failures: %+v", stats)
	}
	// At most 16 open reservations per session.
	for i := range apiMaxReservations {
		if st, _, _ := c.reserve("file", set, 100); st != 201 {
			t.Fatalf("reservation %d: %d", i, st)
		}
	}
	if st, _, _ := c.reserve("file", set, 100); st != 429 {
		t.Fatalf("17th reservation: %d", st)
	}
	if n := len(e.h.apiSess.reserved); n != apiMaxReservations {
		t.Fatalf("%d reservation slots taken, want %d", n, apiMaxReservations)
	}
	c.call("DELETE", "session", nil)
	if n := len(e.h.apiSess.reserved); n != 0 {
		t.Fatalf("logout left %d reservations open", n)
	}
	// Every answer carries the fixed security headers.
	_, _, hdr := stranger.call("GET", "nothing", nil)
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Cache-Control"} {
		if hdr.Get(h) == "" {
			t.Errorf("API answer lacks %s", h)
		}
	}
	if hdr.Get("Date") != "" || hdr.Get("Server") != "" {
		t.Error("API answer has Date or Server")
	}
}

func TestAPIReservationExpires(t *testing.T) {
	e := newEnv(t)
	e.h.apiResLife = 50 * time.Millisecond
	c := &apiClient{e: e}
	c.login(apiCode, true)
	st, id, _ := c.reserve("file", e.setID(), 100)
	if st != 201 {
		t.Fatal(st)
	}
	time.Sleep(300 * time.Millisecond)
	if st, _, _ := c.call("PUT", "items/"+hex.EncodeToString(id[:]), make([]byte, 100)); st != 404 {
		t.Fatalf("upload to an expired reservation: %d", st)
	}
	if len(e.h.apiSess.reserved) != 0 {
		t.Fatal("an expired reservation kept its slot")
	}
}

func TestAPIClosedWithoutSet(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) { return nil, nil, ErrNoRecipientSet }
	})
	c := &apiClient{e: e}
	if st, _, _ := c.call("GET", "recipients", nil); st != 503 {
		t.Fatalf("recipients with no set: %d", st)
	}
}
