package scrub

import (
	"bytes"
	"errors"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScrubStdlibImages scrubs the JPEG, PNG and GIF test images that ship
// with Go (progressive and restart-interval JPEGs, CMYK with an Adobe
// segment, every chroma subsampling, the PNG suite with its gAMA, tEXt,
// zTXt, tIME, pHYs, sBIT, bKGD and hIST chunks, interlaced GIFs) and checks
// that each decodes to exactly the pixels of the original.
func TestScrubStdlibImages(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skip("go env GOROOT:", err)
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "src", "image")
	var files []string
	for _, pattern := range []string{"testdata/*", "png/testdata/pngsuite/*.png", "jpeg/testdata/*", "gif/testdata/*"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no image test data in GOROOT")
	}
	scrubbed := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		name := filepath.Base(path)
		orig, _, decErr := image.Decode(bytes.NewReader(data))
		res, rep, err := scrubBytes(t, data, "", "")
		switch {
		case err != nil && decErr != nil:
			continue // neither we nor the decoder accept it
		case err != nil && strings.Contains(name, "truncated") && errors.Is(err, ErrTruncated):
			continue // the decoder shows what it has; we refuse a cut file
		case err != nil:
			t.Errorf("%s: decodes but does not scrub: %v", name, err)
			continue
		case !rep.Scrubbed:
			continue // not an image format we handle
		}
		scrubbed++
		if decErr != nil {
			continue
		}
		got, _, err := image.Decode(bytes.NewReader(res))
		if err != nil {
			t.Errorf("%s: scrubbed file does not decode: %v", name, err)
			continue
		}
		t.Run(name, func(t *testing.T) { samePixels(t, orig, got) })
		if again, _, err := scrubBytes(t, res, "", ""); err != nil || !bytes.Equal(again, res) {
			t.Errorf("%s: scrubbing is not idempotent (err %v)", name, err)
		}
	}
	t.Logf("scrubbed %d of %d files", scrubbed, len(files))
}
