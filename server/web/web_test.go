package web

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestSubmitRoundTrip is the happy path: a new source sends a message and
// two files in one form; the receipt comes after the commit, and every item
// decrypts to exactly what was sent, with its name only inside.
func TestSubmitRoundTrip(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	name := b.newSource()
	tok := b.csrf("/en/submit")
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: several chunks
	resp, _ := b.submit(field("csrf", tok), field("message", "hello newsroom"),
		file("report.pdf", big), file("", nil), file("notes.txt", []byte("short")))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/en/receipt" {
		t.Fatalf("submit: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := b.get("/en/receipt")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "1 message(s), 2 file(s)") {
		t.Fatalf("receipt: status %d, body %q", resp.StatusCode, body)
	}
	items := e.items(name)
	if len(items) != 3 {
		t.Fatalf("got %d items, want 3", len(items))
	}
	want := []struct {
		kind     uint8
		filename string
		content  []byte
	}{{1, "", []byte("hello newsroom")}, {2, "report.pdf", big}, {2, "notes.txt", []byte("short")}}
	for i, it := range items {
		h, content := e.open(it)
		if uint8(h.Kind) != want[i].kind || h.Filename != want[i].filename || !bytes.Equal(content, want[i].content) {
			t.Errorf("item %d: kind %d, filename %q, %d bytes; want kind %d, %q, %d bytes",
				i, h.Kind, h.Filename, len(content), want[i].kind, want[i].filename, len(want[i].content))
		}
	}
}

// TestLanguages: "/" follows Accept-Language, every page exists in every
// language with links to the others, and the pages are in that language.
func TestLanguages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for header, want := range map[string]string{"": "/en/", "ru-RU,ru;q=0.9": "/ru/", "kk": "/kk/", "en-US,en;q=0.5": "/en/"} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
		req.Header.Set("Accept-Language", header)
		if resp, _ := b.do(req); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("Accept-Language %q: %d to %q, want %q", header, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	for lang, text := range map[string]string{"en": "Send us information safely", "ru": "Передайте нам информацию безопасно", "kk": "Бізге ақпаратты қауіпсіз жіберіңіз"} {
		_, body := b.get("/" + lang + "/")
		if !strings.Contains(body, text) || !strings.Contains(body, `<html lang="`+lang+`">`) {
			t.Errorf("/%s/ is not in its language", lang)
		}
		for _, other := range languages {
			if other != lang && !strings.Contains(body, `href="/`+other+`/"`) {
				t.Errorf("/%s/ has no link to %s", lang, other)
			}
		}
	}
	_, body := b.get("/kk/resources")
	for _, o := range organisations() {
		if !strings.Contains(body, `href="`+o.URL+`"`) {
			t.Errorf("resources page lacks %s", o.URL)
		}
	}
}
