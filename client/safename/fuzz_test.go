package safename

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus in testdata/fuzz")

// fuzzSeeds are added with f.Add and committed under testdata/fuzz.
var fuzzSeeds = []string{
	"", ".", "..", "../../etc/passwd", `..\..\boot.ini`, `\\server\share\x`,
	"CON", "con.txt", "a\x00b", "\r\n", "x\u202Etxt.exe", "\xff", "e\u0301",
	"report.pdf", " . -x. ", "LPT¹", "C:\\x", "..\u2215x", "👨\u200d👩.png",
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSanitize")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkInvariants(t, s, Sanitize(s))
	})
}
