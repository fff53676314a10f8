package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// taggedPNG returns a small PNG with a tEXt chunk naming its author.
func taggedPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.NRGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	clean := buf.Bytes()
	const ihdrEnd = 8 + 12 + 13
	text := []byte("Author\x00AUTHOR-MARKER")
	var chunk bytes.Buffer
	binary.Write(&chunk, binary.BigEndian, uint32(len(text)))
	chunk.WriteString("tEXt")
	chunk.Write(text)
	binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("tEXt"), text...)))
	return append(append(append([]byte{}, clean[:ihdrEnd]...), chunk.Bytes()...), clean[ihdrEnd:]...)
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestCopy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "out")
	res, err := File(dir, "report.pdf", strings.NewReader("%PDF-1.7 data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "report.pdf" || res.Report != nil {
		t.Errorf("result %+v", res)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "report.pdf"))
	if string(got) != "%PDF-1.7 data" {
		t.Errorf("content %q", got)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "report.pdf"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v", filepath.Base(p), fi.Mode(), err)
		}
	}
	// An existing directory is fine, and a second export never overwrites.
	res, err = File(dir, "report.pdf", strings.NewReader("second"), nil)
	if err != nil || res.Name != "report (2).pdf" {
		t.Fatalf("second: %+v %v", res, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "report.pdf")); string(got) != "%PDF-1.7 data" {
		t.Error("first export overwritten")
	}
}

func TestExistingNames(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(outside, []byte("keep"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "a.txt"))
	os.Symlink(filepath.Join(t.TempDir(), "nowhere"), filepath.Join(dir, "b.txt"))
	os.Mkdir(filepath.Join(dir, "c.txt"), 0o700)
	os.Link(outside, filepath.Join(dir, "d.txt"))
	for _, n := range []string{"a.txt", "b.txt", "c.txt", "d.txt"} {
		res, err := File(dir, n, strings.NewReader("new"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Name == n {
			t.Errorf("%s: exported over an existing entry", n)
		}
	}
	if got, _ := os.ReadFile(outside); string(got) != "keep" {
		t.Errorf("written through a link: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(outside), "..", "nowhere")); err == nil {
		t.Error("created through a dangling symlink")
	}
}

func TestHostileBase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	for _, base := range []string{"../../escape", "/etc/passwd", "..", "", "\x1b]52;c;x\x07.txt", "CON", ".hidden"} {
		res, err := File(dir, base, strings.NewReader("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(res.Name, "/\\\x1b\x07") || strings.HasPrefix(res.Name, ".") {
			t.Errorf("%q exported as %q", base, res.Name)
		}
	}
	if n := len(listDir(t, filepath.Dir(dir))); n != 1 {
		t.Errorf("written next to the output directory: %d entries", n)
	}
	if n := len(listDir(t, dir)); n != 7 {
		t.Errorf("%d files", n)
	}
}

func TestScrub(t *testing.T) {
	dir := t.TempDir()
	img := taggedPNG(t)
	res, err := File(dir, "photo.png", bytes.NewReader(img), &Options{Scrub: true, MediaType: "image/png", Name: "photo.png"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report == nil || !res.Report.Scrubbed || res.Report.Format != "PNG" || len(res.Report.Removed) == 0 {
		t.Fatalf("report %+v", res.Report)
	}
	got, _ := os.ReadFile(filepath.Join(dir, res.Name))
	if bytes.Contains(got, []byte("AUTHOR-MARKER")) {
		t.Error("metadata left in the export")
	}
	if _, err := png.Decode(bytes.NewReader(got)); err != nil {
		t.Errorf("scrubbed PNG does not decode: %v", err)
	}

	// Not supported: copied unchanged, and the report says so.
	res, err = File(dir, "doc.pdf", strings.NewReader("%PDF-1.7\n/Author (X)"), &Options{Scrub: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Scrubbed || res.Report.Format != "PDF" || len(res.Report.NotChecked) == 0 {
		t.Errorf("report %+v", res.Report)
	}

	// A scrub failure leaves nothing.
	before := listDir(t, dir)
	_, err = File(dir, "broken.png", bytes.NewReader(img[:len(img)-20]), &Options{Scrub: true})
	if !errors.Is(err, ErrScrub) {
		t.Fatalf("truncated PNG: %v", err)
	}
	if after := listDir(t, dir); len(after) != len(before) {
		t.Errorf("partial output left: %v", after)
	}
}

func TestReadError(t *testing.T) {
	dir := t.TempDir()
	r := io.MultiReader(strings.NewReader("partial plaintext"), iotest.ErrReader(errors.New("boom")))
	for _, scrub := range []bool{false, true} {
		if _, err := File(dir, "x.txt", r, &Options{Scrub: scrub}); err == nil {
			t.Fatal("no error")
		}
		if names := listDir(t, dir); len(names) != 0 {
			t.Errorf("scrub=%v: left %v", scrub, names)
		}
	}
}
