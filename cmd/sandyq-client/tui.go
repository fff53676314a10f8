package main

import (
	"fmt"
	"strings"
	"unicode"

	"sandyq/crypto/sign"
)

// Output policy, as in age: data goes to stdout; everything else goes to
// stderr, one line each, prefixed "sandyq-client: ", lower case, no final
// period. "sandyq-client: hint: " lines tell the user what to do next;
// "sandyq-client: warning: " lines say what is unsafe. Nothing here ever
// prints a secret key, a passphrase, or message content; file names are
// named by their flag ("the -o file"), not printed.

func errorf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq-client: error: "+format+"\n", args...)
}

func hintf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq-client: hint: "+format+"\n", args...)
}

func warnf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq-client: warning: "+format+"\n", args...)
}

func infof(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq-client: "+format+"\n", args...)
}

// printable returns s with control and other non-printing characters
// replaced, cut to 64 runes, for echoing a user's argument (a command name)
// safely to a terminal.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 64 {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// looksSecret reports whether s contains something that looks like a
// secret key, sandyq's or age's, anywhere in it.
func looksSecret(s string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '"' || r == '\'' || r == '='
	}) {
		if sign.LooksSecret(f) {
			return true
		}
	}
	u := strings.ToUpper(s)
	return strings.Contains(u, "SECRET-KEY") || strings.Contains(u, "AGE-PLUGIN-")
}
