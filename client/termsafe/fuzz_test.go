package termsafe

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus in testdata/fuzz")

// fuzzSeeds are added with f.Add and committed under testdata/fuzz.
var fuzzSeeds = []string{
	"", "plain", "\x1b]52;c;ZXZpbA==\x07", "invoice\u202egpj.exe",
	"\xff\xfe", "a\r\nb\rc", "\u009b2J", "👨‍👩‍👧", "Қазақ",
	"\x1b]8;;https://x.example/\x1b\\text\x1b]8;;\x1b\\", "\x1b[2J\x1b[1;1H", "\x9b\xc2",
	"tag\U000E0041", "\\x1b", "ok\xe2\x82",
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzEscape")
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

func FuzzEscape(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line, text := Escape(s), EscapeText(s)
		checkSafe(t, line, Line)
		checkSafe(t, text, Text)
		// Escaping is stable: safe output is left alone.
		if !strings.Contains(line, `\`) && Escape(line) != line {
			t.Fatalf("Escape not stable on %q: %q", line, Escape(line))
		}
		// Escaping is unambiguous: the input can be read back.
		if back, err := unescape(line); err != nil || back != s {
			t.Fatalf("unescape(%q) = %q, %v; want %q", line, back, err, s)
		}
		// Only the escape backslash can change the text of clean input.
		if isClean(s, Line) && line != s {
			t.Fatalf("clean input %q changed to %q", s, line)
		}
		// The streaming writer agrees with the function, for any split.
		for _, step := range []int{1, 3} {
			var buf bytes.Buffer
			w := NewWriter(&buf, Text)
			for i := 0; i < len(s); i += step {
				w.Write([]byte(s[i:min(i+step, len(s))]))
			}
			w.Close()
			if buf.String() != text {
				t.Fatalf("Writer(step %d) = %q, EscapeText = %q", step, buf.String(), text)
			}
		}
	})
}

// unescape reverses Escape, to prove that its output is unambiguous.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("dangling backslash")
		}
		n := 0
		switch s[i+1] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'x':
			n = 2
		case 'u':
			n = 4
		case 'U':
			n = 8
		default:
			return "", fmt.Errorf("unknown escape %q", s[i:i+2])
		}
		if n == 0 {
			i += 2
			continue
		}
		if i+2+n > len(s) {
			return "", fmt.Errorf("short escape")
		}
		v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
		if err != nil {
			return "", err
		}
		if n == 2 {
			b.WriteByte(byte(v))
		} else {
			b.WriteRune(rune(v))
		}
		i += 2 + n
	}
	return b.String(), nil
}
