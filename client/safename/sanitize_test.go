package safename

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Already safe names are unchanged.
		{"plain", "report.pdf", "report.pdf"},
		{"kazakh", "Сәлем әлем.docx", "Сәлем әлем.docx"},
		{"cjk emoji", "記者 photo 👍.jpg", "記者 photo 👍.jpg"},
		{"inner dots", "a.tar.gz", "a.tar.gz"},
		{"console is not con", "console.txt", "console.txt"},
		{"com10 is not a device", "COM10.txt", "COM10.txt"},
		{"inner dash", "my-file -v.txt", "my-file -v.txt"},

		// Traversal and absolute paths.
		{"unix traversal", "../../etc/passwd", "_.._etc_passwd"},
		{"windows traversal", `..\..\boot.ini`, "_.._boot.ini"},
		{"absolute", "/abs", "_abs"},
		{"drive letter", `C:\x`, "C__x"},
		{"drive relative", "C:x", "C_x"},
		{"unc", `\\server\share\x`, "__server_share_x"},
		{"device path", `\\?\C:\x`, "____C__x"},
		{"slash lookalikes", "..\u2215..\u2215x\uff0fy\uff3cz", "_.._x_y_z"},
		{"alternate data stream", "a.txt:secret", "a.txt_secret"},
		{"windows forbidden", "x<>|?*\".txt", "x______.txt"},

		// Windows device names.
		{"con", "CON", "_CON"},
		{"con lower ext", "con.txt", "_con.txt"},
		{"com1 two exts", "Com1.tar.gz", "_Com1.tar.gz"},
		{"lpt9", "lpt9", "_lpt9"},
		{"com0", "COM0.log", "_COM0.log"},
		{"superscript", "LPT¹.txt", "_LPT¹.txt"},
		{"conout", "CONOUT$", "_CONOUT$"},
		{"nul space ext", "nul .txt", "_nul .txt"},
		{"aux after trim", "-AUX", "_AUX"},

		// Controls, bidi and invisible characters.
		{"nul byte", "a\x00b", "a_b"},
		{"crlf", "\r\n", "__"},
		{"tab", "a\tb.txt", "a_b.txt"},
		{"escape sequence", "\x1b[31mred.txt", "_[31mred.txt"},
		{"c1 csi", "a\u009bb", "a_b"},
		{"del", "a\x7fb", "a_b"},
		{"bidi extension spoof", "x\u202Etxt.exe", "x_txt.exe"},
		{"bidi invoice", "invoice\u202Egpj.exe", "invoice_gpj.exe"},
		{"bidi isolate", "a\u2066b\u2069.pdf", "a_b_.pdf"},
		{"zero width", "pay\u200bpal\ufeff.pdf", "pay_pal_.pdf"},
		{"zwj emoji", "👨\u200d👩.png", "👨_👩.png"},
		{"tags", "a\U000E0041.txt", "a_.txt"},
		{"line separator", "a\u2028b", "a_b"},
		{"private use", "a\ue000b", "a_b"},
		{"hangul filler", "\u3164.exe", "_.exe"},

		// Spaces, dots and dashes at the ends.
		{"empty", "", "file"},
		{"dot", ".", "file"},
		{"dotdot", "..", "file"},
		{"dots", "....", "file"},
		{"spaces and dots", " . . ", "file"},
		{"dash", "-", "file"},
		{"flag", "-rf", "rf"},
		{"long flag", "--help.txt", "help.txt"},
		{"dotfile", ".bashrc", "bashrc"},
		{"hidden trailing dot", ".hidden.", "hidden"},
		{"trailing spaces", "file.txt   ", "file.txt"},
		{"trailing dots", "file.txt. . .", "file.txt"},
		{"nbsp", "a\u00a0b", "a b"},
		{"ideographic space lead", "\u3000lead", "lead"},
		{"only controls", "\x00\x01", "__"},

		// Encoding.
		{"invalid utf8", "a\xffb\xfe\xfdc.txt", "a_b_c.txt"},
		{"only invalid", "\xff", "_"},
		{"overlong slash", "\xc0\xaf", "_"},
		{"nfc", "e\u0301.txt", "\u00e9.txt"},
		{"nfc kazakh", "\u0438\u0306", "\u0439"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			if got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkInvariants(t, tt.in, got)
		})
	}
}

func TestSanitizeLong(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ascii with ext", strings.Repeat("a", 1000) + ".pdf", strings.Repeat("a", 251) + ".pdf"},
		{"ascii no ext", strings.Repeat("a", 1000), strings.Repeat("a", 255)},
		{"cyrillic", strings.Repeat("ж", 600) + ".docx", strings.Repeat("ж", 125) + ".docx"},
		{"cjk cut on boundary", strings.Repeat("記", 400) + ".jpg", strings.Repeat("記", 83) + ".jpg"},
		{"emoji cut on boundary", strings.Repeat("👍", 100), strings.Repeat("👍", 63)},
		{"long ext dropped", strings.Repeat("a", 300) + ".verylongextension123", strings.Repeat("a", 255)},
		{"space at cut", strings.Repeat("a", 250) + strings.Repeat(" ", 10) + ".pdf", strings.Repeat("a", 250) + ".pdf"},
		{"exactly 255", strings.Repeat("b", 251) + ".txt", strings.Repeat("b", 251) + ".txt"},
		{"256", strings.Repeat("b", 252) + ".txt", strings.Repeat("b", 251) + ".txt"},
		{"traversal long", strings.Repeat("../", 400) + "x.sh", "_" + strings.Repeat(".._", 83) + ".sh"},
		{"reserved long", "CON." + strings.Repeat("x", 300), "_CON." + strings.Repeat("x", 250)},
		{"grown by nfc", strings.Repeat("\u0958", 200), strings.Repeat("\u0915\u093c", 42) + "\u0915"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			if got != tt.want {
				t.Errorf("Sanitize(%q…) = %q (%d bytes), want %q (%d bytes)",
					trunc(tt.in), got, len(got), tt.want, len(tt.want))
			}
			checkInvariants(t, tt.in, got)
		})
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// checkInvariants asserts what Sanitize promises for every input.
func checkInvariants(t *testing.T, in, got string) {
	t.Helper()
	switch {
	case got == "" || got == "." || got == "..":
		t.Fatalf("Sanitize(%q) = %q", in, got)
	case len(got) > MaxLen:
		t.Fatalf("Sanitize(%q) is %d bytes", in, len(got))
	case !utf8.ValidString(got):
		t.Fatalf("Sanitize(%q) = %q is not valid UTF-8", in, got)
	case strings.ContainsAny(got, "/\\\x00:"):
		t.Fatalf("Sanitize(%q) = %q has a separator", in, got)
	case !filepath.IsLocal(got) || filepath.Base(got) != got:
		t.Fatalf("Sanitize(%q) = %q is not a single local element", in, got)
	case strings.IndexAny(got[:1], " .-") == 0:
		t.Fatalf("Sanitize(%q) = %q has a bad first byte", in, got)
	case strings.IndexAny(got[len(got)-1:], " .") == 0:
		t.Fatalf("Sanitize(%q) = %q has a bad last byte", in, got)
	case isReserved(got):
		t.Fatalf("Sanitize(%q) = %q is a device name", in, got)
	}
	for _, r := range got {
		if mapRune(r) != r {
			t.Fatalf("Sanitize(%q) = %q keeps unsafe rune %U", in, got, r)
		}
	}
	if again := Sanitize(got); again != got {
		t.Fatalf("Sanitize not idempotent: %q -> %q -> %q", in, got, again)
	}
}
