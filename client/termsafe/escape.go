package termsafe

import (
	"unicode"
	"unicode/utf8"
)

// Mode says which whitespace controls survive escaping.
type Mode uint8

const (
	// Line is for text that must stay on one line: file names, labels,
	// error text. Line feeds and tabs are escaped like every other control.
	Line Mode = iota
	// Text is for message bodies. Line feeds and tabs are kept, and a
	// carriage return directly before a line feed is dropped.
	Text
)

// Escape returns s with every character that could act on a terminal or
// mislead a reader replaced by a visible escape, for display on one line.
// See the package documentation for exactly what is escaped.
func Escape(s string) string {
	return escapeString(s, Line)
}

// EscapeText is like [Escape] but keeps line feeds and tabs, for message
// bodies that span several lines.
func EscapeText(s string) string {
	return escapeString(s, Text)
}

func escapeString(s string, m Mode) string {
	if isClean(s, m) {
		return s
	}
	out, _ := appendEscaped(make([]byte, 0, len(s)+16), []byte(s), m, true)
	return string(out)
}

// isClean reports whether s would be returned unchanged, so that the common
// case of plain text costs no allocation.
func isClean(s string, m Mode) bool {
	for i, r := range s {
		switch {
		case r == '\\':
			return false
		case r == '\n' || r == '\t':
			if m != Text {
				return false
			}
		case r < 0x20 || r == 0x7f:
			return false
		case r >= utf8.RuneSelf:
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
					return false
				}
			}
			if !safeRune(r) {
				return false
			}
		}
	}
	return true
}

// safeRune reports whether a non-ASCII rune may be printed as it is.
func safeRune(r rune) bool {
	switch r {
	case 0x200c, 0x200d:
		// Zero-width non-joiner and joiner: needed by emoji sequences and
		// several scripts; they cannot reorder text.
		return true
	case 0x115f, 0x1160, 0x3164, 0xffa0:
		// Hangul fillers: letters that render as nothing.
		return false
	}
	if r <= 0x9f {
		return false // C1 controls
	}
	// IsGraphic excludes Cc, Cf (bidi controls, tags, ZWSP, BOM…), Zl, Zp,
	// Co (private use), Cs (surrogates) and unassigned code points.
	return unicode.IsGraphic(r)
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends the escaped form of p to dst and returns it with the
// number of bytes of p consumed. Unless final is set, it stops before an
// incomplete UTF-8 sequence or (in Text mode) a carriage return at the end
// of p, so that a streaming caller can retry them with more input.
func appendEscaped(dst, p []byte, m Mode, final bool) ([]byte, int) {
	i := 0
	for i < len(p) {
		c := p[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				dst = append(dst, '\\', '\\')
			case c == '\n' || c == '\t':
				if m == Text {
					dst = append(dst, c)
				} else if c == '\n' {
					dst = append(dst, '\\', 'n')
				} else {
					dst = append(dst, '\\', 't')
				}
			case c == '\r':
				if m == Text {
					if i+1 == len(p) && !final {
						return dst, i
					}
					if i+1 < len(p) && p[i+1] == '\n' {
						i++ // CR LF: keep only the LF
						continue
					}
				}
				dst = append(dst, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				dst = appendHexByte(dst, c)
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		if !final && !utf8.FullRune(p[i:]) {
			return dst, i
		}
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = appendHexByte(dst, c)
		case safeRune(r):
			dst = append(dst, p[i:i+size]...)
		default:
			dst = appendRuneEscape(dst, r)
		}
		i += size
	}
	return dst, i
}

func appendHexByte(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
}

func appendRuneEscape(dst []byte, r rune) []byte {
	n := 4
	if r > 0xffff {
		dst = append(dst, '\\', 'U')
		n = 8
	} else {
		dst = append(dst, '\\', 'u')
	}
	for shift := (n - 1) * 4; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(r>>shift)&0xf])
	}
	return dst
}
