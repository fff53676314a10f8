package codename

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Words is the number of words in a codename.
const Words = 7

// MaxInput is the longest input, in bytes, that Normalize looks at. The
// longest codename is 7 × 9 letters + 6 spaces = 69 bytes; the rest leaves
// room for odd white space.
const MaxInput = 256

// rejectAbove is the number of 16-bit values that map evenly onto the word
// list: 8 × 7776. Values at or above it are rejected and redrawn.
const rejectAbove = 65536 / listSize * listSize

// Generate returns a new codename: Words words drawn uniformly from the word
// list with bytes read from rand (crypto/rand.Reader in production),
// lower case, separated by single spaces.
func Generate(rand io.Reader) (string, error) {
	words := wordList()
	out := make([]string, 0, Words)
	var b [2]byte
	for len(out) < Words {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return "", fmt.Errorf("failed to read randomness: %w", err)
		}
		v := int(b[0])<<8 | int(b[1])
		if v >= rejectAbove {
			continue
		}
		out = append(out, words[v%listSize])
	}
	return strings.Join(out, " "), nil
}

// Normalize returns the canonical form of a codename as a person typed it:
// lower case, words separated by single spaces. See the package
// documentation for the rules. Errors wrap [ErrTooLong] or [ErrInvalid] and
// never contain s.
func Normalize(s string) (string, error) {
	if len(s) > MaxInput {
		return "", ErrTooLong
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: invalid UTF-8", ErrInvalid)
	}
	// strings.Fields splits around runs of unicode.IsSpace, which includes
	// U+00A0 NO-BREAK SPACE, U+0085, U+2000–U+200A, U+3000 and the like.
	words := strings.Fields(strings.ToLower(s))
	if len(words) != Words {
		return "", fmt.Errorf("%w: it has %d words, want %d", ErrInvalid, len(words), Words)
	}
	for i, w := range words {
		if !IsWord(w) {
			return "", fmt.Errorf("%w: word %d is not in the word list", ErrInvalid, i+1)
		}
	}
	return strings.Join(words, " "), nil
}
