package termsafe

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line string // Escape
		text string // EscapeText
	}{
		{"empty", "", "", ""},
		{"ascii", "report.pdf", "report.pdf", "report.pdf"},
		{"backslash", `a\x1b`, `a\\x1b`, `a\\x1b`},
		{"osc52 clipboard", "hi\x1b]52;c;cm0gLXJmIH4=\x07", `hi\x1b]52;c;cm0gLXJmIH4=\x07`, `hi\x1b]52;c;cm0gLXJmIH4=\x07`},
		{"osc52 st terminator", "\x1b]52;c;ZXZpbA==\x1b\\", `\x1b]52;c;ZXZpbA==\x1b\\`, `\x1b]52;c;ZXZpbA==\x1b\\`},
		{
			"osc8 hyperlink",
			"\x1b]8;;https://evil.example/\x1b\\bank.kz\x1b]8;;\x1b\\",
			`\x1b]8;;https://evil.example/\x1b\\bank.kz\x1b]8;;\x1b\\`,
			`\x1b]8;;https://evil.example/\x1b\\bank.kz\x1b]8;;\x1b\\`,
		},
		{"csi clear screen", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`, `\x1b[2J\x1b[H`},
		{"csi cursor up", "ok\x1b[1A\x1b[2K", `ok\x1b[1A\x1b[2K`, `ok\x1b[1A\x1b[2K`},
		{"title set", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`, `\x1b]0;pwned\x07`},
		{"cr overwrite", "rm -rf /\rls -l   ", `rm -rf /\rls -l   `, `rm -rf /\rls -l   `},
		{"backspace overwrite", "evil\b\b\b\bgood", `evil\x08\x08\x08\x08good`, `evil\x08\x08\x08\x08good`},
		{"bell and nul", "a\x07b\x00c", `a\x07b\x00c`, `a\x07b\x00c`},
		{"del", "a\x7fb", `a\x7fb`, `a\x7fb`},
		{"8-bit csi", "x\u009b2Jy", `x\u009b2Jy`, `x\u009b2Jy`},
		{"c1 range", "\u0080\u0085\u009f", `\u0080\u0085\u009f`, `\u0080\u0085\u009f`},
		{"raw 8-bit csi byte", "x\x9b2J", `x\x9b2J`, `x\x9b2J`},
		{"bidi filename spoof", "invoice\u202Egpj.exe", `invoice\u202egpj.exe`, `invoice\u202egpj.exe`},
		{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", `\u2066a\u2067b\u2068c\u2069`, `\u2066a\u2067b\u2068c\u2069`},
		{"bidi embeddings", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`, `\u202a\u202b\u202c\u202d`},
		{"bidi marks", "a\u200eb\u200fc\u061cd", `a\u200eb\u200fc\u061cd`, `a\u200eb\u200fc\u061cd`},
		{"invisible format", "pay\u200bpal\ufeff\u00ad\u2060", `pay\u200bpal\ufeff\u00ad\u2060`, `pay\u200bpal\ufeff\u00ad\u2060`},
		{"tag smuggling", "hi\U000E0041\U000E0042", `hi\U000e0041\U000e0042`, `hi\U000e0041\U000e0042`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`, `a\u2028b\u2029c`},
		{"private use", "\ue000\U000f0000", `\ue000\U000f0000`, `\ue000\U000f0000`},
		{"noncharacter", "\uffff\ufffe", `\uffff\ufffe`, `\uffff\ufffe`},
		{"hangul filler", "a\u3164b", `a\u3164b`, `a\u3164b`},
		{"invalid utf8", "a\xffb\xc0\xafc", `a\xffb\xc0\xafc`, `a\xffb\xc0\xafc`},
		{"truncated utf8", "ok\xe2\x82", `ok\xe2\x82`, `ok\xe2\x82`},
		{"surrogate encoding", "\xed\xa0\x80", `\xed\xa0\x80`, `\xed\xa0\x80`},
		{"real replacement char", "\ufffd", "\ufffd", "\ufffd"},
		{"newline and tab", "a\nb\tc", `a\nb\tc`, "a\nb\tc"},
		{"crlf", "one\r\ntwo\r\n", `one\r\ntwo\r\n`, "one\ntwo\n"},
		{"lone cr in text", "one\rtwo", `one\rtwo`, `one\rtwo`},
		{"cr cr lf", "a\r\r\nb", `a\r\r\nb`, "a\\r\nb"},
		{"trailing cr", "a\r", `a\r`, `a\r`},
		{"vertical tab form feed", "a\vb\fc", `a\x0bb\x0cc`, `a\x0bb\x0cc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.line {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.line)
			}
			if got := EscapeText(tt.in); got != tt.text {
				t.Errorf("EscapeText(%q) = %q, want %q", tt.in, got, tt.text)
			}
			checkSafe(t, Escape(tt.in), Line)
			checkSafe(t, EscapeText(tt.in), Text)
		})
	}
}

// TestMultilingualUnchanged checks that ordinary text in the scripts our
// sources and journalists use passes through byte for byte.
func TestMultilingualUnchanged(t *testing.T) {
	texts := []string{
		"Сәлеметсіз бе! Қазақстан, Өскемен, Ұлытау, ғылым, үй, һ, ің",
		"Здравствуйте, это сообщение для редакции. Ёжик",
		"Grüße aus Zürich — «цитата» „Zitat“ … 50 €",
		"記者の安全 新闻自由 언론의 자유",
		"مرحبا بالعالم שלום עולם",
		"हिन्दी नमस्ते ไทย",
		"emoji 👍🏽 👨‍👩‍👧‍👦 ❤️ 🇰🇿 1️⃣",
		"math ∑ ≤ ≥ ∞ √ · ½ ² µ",
		"spaces\u00a0nbsp\u3000ideographic\u2009thin",
		"e\u0301 combining acute and Z\u0335\u0336 strokes",
		"U+FFFC \ufffc and U+FFFD \ufffd kept",
	}
	for _, s := range texts {
		if got := Escape(s); got != s {
			t.Errorf("Escape(%q) = %q, want unchanged", s, got)
		}
		if got := EscapeText(s); got != s {
			t.Errorf("EscapeText(%q) = %q, want unchanged", s, got)
		}
	}
	msg := "Line one\n\tindented line two\nПоследняя строка\n"
	if got := EscapeText(msg); got != msg {
		t.Errorf("EscapeText(%q) = %q, want unchanged", msg, got)
	}
}

// TestEscapeUnambiguous checks that different inputs that look alike give
// different outputs.
func TestEscapeUnambiguous(t *testing.T) {
	inputs := []string{
		"\x1b", `\x1b`, "\u001b", // the same rune twice, and the literal text
		"\xc2\x9b", "\x9b", `\u009b`, // C1 CSI as a rune, as a raw byte, as text
		"\ufffd", "\xff", `\xff`,
		"\\", `\\`, "\n", `\n`,
	}
	seen := map[string]string{}
	for _, in := range inputs {
		out := Escape(in)
		if prev, ok := seen[out]; ok && prev != in {
			t.Errorf("Escape(%q) and Escape(%q) both give %q", prev, in, out)
		}
		seen[out] = in
	}
}

func TestEscapeNoAllocWhenClean(t *testing.T) {
	s := "Сәлеметсіз бе — plain text"
	allocs := testing.AllocsPerRun(100, func() { _ = Escape(s) })
	if allocs != 0 {
		t.Errorf("Escape of clean text allocated %v times", allocs)
	}
}

func TestWriterMatchesEscape(t *testing.T) {
	inputs := []string{
		"",
		"plain",
		"one\r\ntwo\r\nthree\r",
		"Қазақ \x1b[31mred\x1b[0m \u202e \xff\xfe end",
		"emoji 👨‍👩‍👧 split across writes",
		strings.Repeat("Ж\x1b\r\n", 3000),
	}
	for _, m := range []Mode{Line, Text} {
		for _, in := range inputs {
			want := escapeString(in, m)
			// Every split size, so that runes, CR LF pairs and escapes are
			// cut at every position.
			for _, step := range []int{1, 2, 3, 5, 7, 4096, 5000} {
				var buf bytes.Buffer
				w := NewWriter(&buf, m)
				for i := 0; i < len(in); i += step {
					n, err := w.Write([]byte(in[i:min(i+step, len(in))]))
					if err != nil || n != min(step, len(in)-i) {
						t.Fatalf("Write = %d, %v", n, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if buf.String() != want {
					t.Errorf("mode %d step %d: Writer gave %q, want %q", m, step, trunc(buf.String()), trunc(want))
				}
			}
		}
	}
}

func TestWriterPartialRuneAtClose(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Text)
	if _, err := w.Write([]byte("ok\xe2\x82")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "ok" {
		t.Errorf("before Close: %q, want %q", got, "ok")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `ok\xe2\x82`; got != want {
		t.Errorf("after Close: %q, want %q", got, want)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write(p []byte) (int, error) { return 0, f.err }

func TestWriterPropagatesError(t *testing.T) {
	boom := errors.New("disk gone")
	w := NewWriter(failWriter{boom}, Line)
	if n, err := w.Write([]byte("abc")); !errors.Is(err, boom) || n != 0 {
		t.Errorf("Write = %d, %v, want 0, %v", n, err, boom)
	}
	var _ io.Writer = w
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// checkSafe asserts the properties every output must have.
func checkSafe(t *testing.T, out string, m Mode) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("output is not valid UTF-8: %q", out)
	}
	for i, r := range out {
		switch {
		case r == '\n' || r == '\t':
			if m != Text {
				t.Fatalf("output has %q at %d in Line mode: %q", r, i, out)
			}
		case r < 0x20 || r == 0x7f:
			t.Fatalf("output has control %#x at %d: %q", r, i, out)
		case r >= 0x80 && r <= 0x9f:
			t.Fatalf("output has C1 control %#x at %d: %q", r, i, out)
		case r == 0x061c, r == 0x200e, r == 0x200f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			t.Fatalf("output has bidi control %#x at %d: %q", r, i, out)
		case r >= 0x80 && !safeRune(r):
			t.Fatalf("output has unsafe rune %#x at %d: %q", r, i, out)
		}
	}
}
