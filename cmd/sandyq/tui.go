package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

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

// isTerminal reports whether w is a terminal: progress bars and
// interactive lines are drawn only there, never into a pipe or a log.
func (e *env) isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a one-line progress bar on stderr while bytes flow
// through it, when stderr is a terminal; otherwise it does nothing. It
// shows counts only: never a file name.
type progress struct {
	e     *env
	what  string
	total int64 // 0: unknown
	done  int64
	last  time.Time
	on    bool
}

func newProgress(e *env, what string, total int64) *progress {
	return &progress{e: e, what: what, total: total, on: e.isTerminal(e.stderr)}
}

// Write counts p as transferred; it never fails, so it can sit in an
// io.TeeReader or io.MultiWriter.
func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.on && time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	if p.total > 0 {
		const width = 30
		n := int(min(p.done, p.total) * width / p.total)
		fmt.Fprintf(p.e.stderr, "\r%s [%s%s] %s / %s ", p.what,
			strings.Repeat("#", n), strings.Repeat(".", width-n), humanBytes(p.done), humanBytes(p.total))
		return
	}
	fmt.Fprintf(p.e.stderr, "\r%s %s ", p.what, humanBytes(p.done))
}

// finish draws the final state and ends the line.
func (p *progress) finish() {
	if p.on {
		p.draw()
		fmt.Fprintln(p.e.stderr)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
