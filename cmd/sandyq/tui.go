package main

import "fmt"

// Output policy, as in age: data goes to stdout; everything else goes to
// stderr, one line each, prefixed "sandyq: ", lower case, no final period.
// "sandyq: hint: " lines tell the user what to do next; "sandyq: warning: "
// lines say what is unsafe. Nothing here ever prints a codename, a key, a
// filename or message content.

func errorf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq: error: "+format+"\n", args...)
}

func hintf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq: hint: "+format+"\n", args...)
}

func warnf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq: warning: "+format+"\n", args...)
}

func infof(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "sandyq: "+format+"\n", args...)
}
