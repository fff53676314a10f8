package safename

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// MaxLen is the longest name Sanitize returns, in bytes: NAME_MAX on
	// Linux and the BSDs, and within NTFS's 255 UTF-16 units.
	MaxLen = 255
	// MaxExtLen is the longest extension (with its dot, in bytes) that is
	// kept when a long name is cut.
	MaxExtLen = 16
	// Fallback is the name used when nothing of the original is left.
	Fallback = "file"
)

// Sanitize returns a safe, single path element for the untrusted file name
// name. See the package documentation for what it guarantees.
func Sanitize(name string) string {
	s := sanitizeOnce(name)
	// Each step keeps the output of the others safe; running the steps again
	// until nothing changes makes idempotence hold in the rare cases where
	// cutting a name leaves text that normalizes differently.
	for range 3 {
		t := sanitizeOnce(s)
		if t == s {
			break
		}
		s = t
	}
	return s
}

func sanitizeOnce(name string) string {
	s := strings.ToValidUTF8(name, "_")
	s = norm.NFC.String(s)
	s = strings.Map(mapRune, s)
	s = trim(s)
	if s == "" {
		return Fallback
	}
	if isReserved(s) {
		s = "_" + s
	}
	if len(s) > MaxLen {
		s = shorten(s, MaxLen)
	}
	return s
}

// mapRune replaces every rune that is unsafe in a file name with '_' and
// every Unicode space with ' '.
func mapRune(r rune) rune {
	switch r {
	case '/', '\\', ':', '*', '?', '"', '<', '>', '|':
		return '_'
	case 0x2044, 0x2215, 0x29f8, 0x29f9, 0xff0f, 0xff3c, 0xff1a:
		// Look-alikes of '/', '\' and ':' that Windows' best-fit
		// conversion to an ANSI code page maps back to them.
		return '_'
	case 0x115f, 0x1160, 0x3164, 0xffa0:
		return '_' // Hangul fillers: letters that render as nothing.
	}
	switch {
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return '_'
	case unicode.Is(unicode.Zs, r):
		return ' '
	case r >= utf8.RuneSelf && !unicode.IsGraphic(r):
		// Cf (bidi controls, zero-width characters, tags), Zl, Zp, Co,
		// Cs and unassigned code points.
		return '_'
	}
	return r
}

func trim(s string) string {
	s = strings.TrimLeft(s, " .-")
	return strings.TrimRight(s, " .")
}

// isReserved reports whether Windows would treat s as a device: the part
// before the first dot, with trailing spaces removed, is a device name in
// any case.
func isReserved(s string) bool {
	base, _, _ := strings.Cut(s, ".")
	base = strings.TrimRight(base, " ")
	if len(base) > 7 {
		return false
	}
	up := strings.ToUpper(base)
	switch up {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$":
		return true
	}
	if len(up) < 4 || (up[:3] != "COM" && up[:3] != "LPT") {
		return false
	}
	switch up[3:] {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
		return true
	}
	return false
}

// extension returns the suffix of s from its last dot if it is short enough
// to keep when s is cut, and "" otherwise.
func extension(s string) string {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || len(s)-i < 2 || len(s)-i > MaxExtLen {
		return ""
	}
	ext := s[i:]
	if strings.ContainsRune(ext, ' ') {
		return ""
	}
	return ext
}

// shorten cuts s to at most max bytes on a rune boundary, keeping a short
// extension, and trims what the cut may have left at the end.
func shorten(s string, max int) string {
	ext := extension(s)
	base := truncate(s[:len(s)-len(ext)], max-len(ext))
	base = strings.TrimRight(base, " .")
	if base == "" {
		return truncate(Fallback+ext, max)
	}
	return base + ext
}

// truncate returns the longest prefix of s that is at most max bytes and
// ends on a rune boundary.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
