package scrub

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus in testdata/fuzz")

// seeds returns named seed inputs for each fuzz target: the test images,
// and variants cut or damaged at interesting places.
func seeds(t testing.TB) map[string]map[string][]byte {
	jc, jh, _ := jpegImages(t)
	pc, ph, _ := pngImages(t)
	gc, gh, _ := gifImages(t)
	return map[string]map[string][]byte{
		"FuzzScrubJPEG": {
			"clean": jc, "hostile": jh, "truncated": jh[:len(jh)/2],
			"soi-only": jc[:3], "fill": []byte("\xff\xd8\xff\xff\xff\xfe\x00\x02\xff\xd9"),
		},
		"FuzzScrubPNG": {
			"clean": pc, "hostile": ph, "truncated": ph[:len(ph)/2],
			"sig-only": pc[:8], "huge-length": append(bytes.Clone(pc[:33]), "\xff\xff\xff\xffIDAT"...),
		},
		"FuzzScrubGIF": {
			"clean": gc, "hostile": gh, "truncated": gh[:len(gh)/2], "header-only": gc[:13],
		},
	}
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for target, files := range seeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func addSeeds(f *testing.F, target string) {
	for _, data := range seeds(f)[target] {
		f.Add(data)
	}
}

// maxFuzzPixels keeps decoding cheap inside the fuzz loop.
const maxFuzzPixels = 1 << 16

// checkScrub runs the properties every input must satisfy: no panic; on
// success, scrubbing the output again changes nothing and removes nothing;
// and an input the standard decoder accepts gives an output it accepts,
// with the same pixels.
func checkScrub(t *testing.T, in []byte, decode func([]byte) (image.Image, error)) {
	out, rep, err := scrubBytes(t, in, "", "")
	if err != nil || !rep.Scrubbed {
		return
	}
	again, rep2, err := scrubBytes(t, out, "", "")
	if err != nil {
		t.Fatalf("scrubbed output does not scrub again: %v", err)
	}
	if !bytes.Equal(again, out) || len(rep2.Removed) != 0 {
		t.Fatalf("second scrub changed the output or removed %q", rep2.Removed)
	}
	want, err := decode(in)
	if err != nil {
		return
	}
	got, err := decode(out)
	if err != nil {
		t.Fatalf("input decodes but scrubbed output does not: %v", err)
	}
	samePixels(t, want, got)
}

func decodeWith(cfg func([]byte) (image.Config, error), dec func([]byte) (image.Image, error)) func([]byte) (image.Image, error) {
	return func(b []byte) (image.Image, error) {
		c, err := cfg(b)
		if err != nil {
			return nil, err
		}
		if c.Width*c.Height > maxFuzzPixels {
			return nil, fmt.Errorf("too large for fuzzing")
		}
		return dec(b)
	}
}

func FuzzScrubJPEG(f *testing.F) {
	addSeeds(f, "FuzzScrubJPEG")
	decode := decodeWith(
		func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) })
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScrub(t, in, decode)
	})
}

func FuzzScrubPNG(f *testing.F) {
	addSeeds(f, "FuzzScrubPNG")
	decode := decodeWith(
		func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) })
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScrub(t, in, decode)
	})
}

func FuzzScrubGIF(f *testing.F) {
	addSeeds(f, "FuzzScrubGIF")
	decode := decodeWith(
		func(b []byte) (image.Config, error) { return gif.DecodeConfig(bytes.NewReader(b)) },
		func(b []byte) (image.Image, error) { return gif.Decode(bytes.NewReader(b)) })
	f.Fuzz(func(t *testing.T, in []byte) {
		checkScrub(t, in, decode)
	})
}
