package termsafe

import "io"

// chunkSize bounds how much input one call to the underlying writer
// covers, so that a Writer's memory does not grow with the input.
const chunkSize = 4096

// Writer escapes everything written to it, as [Escape] or [EscapeText] do,
// and writes the result to an underlying writer. It keeps at most a few bytes
// between calls (an incomplete UTF-8 sequence, or a carriage return that may
// precede a line feed), which [Writer.Close] flushes.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w      io.Writer
	mode   Mode
	held   [4]byte // at most 3 bytes of a partial rune, or one CR
	nheld  int
	in     []byte
	out    []byte
	closed bool
}

// NewWriter returns a Writer that writes the escaped form of its input to w.
// The caller must call [Writer.Close] when done; it does not close w.
func NewWriter(w io.Writer, m Mode) *Writer {
	return &Writer{w: w, mode: m}
}

// Write escapes p and writes it to the underlying writer. It returns len(p)
// unless the underlying writer fails, and then the number of bytes of p
// handed on before the failing call.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	done := 0
	for done < len(p) {
		end := min(done+chunkSize, len(p))
		w.in = append(append(w.in[:0], w.held[:w.nheld]...), p[done:end]...)
		var n int
		w.out, n = appendEscaped(w.out[:0], w.in, w.mode, false)
		w.nheld = copy(w.held[:], w.in[n:])
		if len(w.out) > 0 {
			if _, err := w.w.Write(w.out); err != nil {
				return done, err
			}
		}
		done = end
	}
	return done, nil
}

// Close writes the escaped form of any bytes still held (an incomplete
// UTF-8 sequence is shown as \xNN escapes). It does not close the
// underlying writer. Writing after Close returns [ErrClosed].
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.nheld == 0 {
		return nil
	}
	out, _ := appendEscaped(nil, w.held[:w.nheld], w.mode, true)
	w.nheld = 0
	_, err := w.w.Write(out)
	return err
}

var _ io.WriteCloser = (*Writer)(nil)
