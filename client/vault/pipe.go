package vault

import (
	"errors"
	"io"
)

// Importing an item does four things to every byte: the bundle reader
// hashes the ciphertext (SHA-256 against the manifest), age decrypts it
// (ChaCha20-Poly1305), the envelope reader hashes the plaintext (its
// trailer's SHA-256), and the content is written to the file system. Done
// one after the other on one goroutine, that is about twice as slow as "age
// -d" alone. For items of pipeMinSize or more, readAhead and asyncWriter
// run the stages on their own goroutines, connected by a few fixed
// buffers, so that they overlap on a machine with more than one core.
// Memory stays bounded: pipeBuffers buffers of pipeBufSize per stage, three
// stages (12 MiB). Smaller items are imported on one goroutine: for them,
// starting goroutines and allocating buffers would cost more than it saves.

const (
	pipeBufSize = 1 << 20
	pipeBuffers = 4
	pipeMinSize = 4 << 20

	// writebackEvery is how often asyncWriter calls its written hook.
	writebackEvery = 8 << 20
)

var errPipeClosed = errors.New("vault: read after close")

// readAhead reads from r on its own goroutine, into a fixed set of
// buffers, and hands them over in order. Reads see exactly the bytes and
// then the error that r returned. Close must be called, and must be called
// before r is used by anyone else: it stops the goroutine and waits for it.
type readAhead struct {
	full   chan chunk    // filled buffers, in order
	free   chan []byte   // empty buffers
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the goroutine returns
	buf    []byte        // the buffer being read from, or nil
	cur    []byte        // its unread part
	err    error         // sticky, once the chunk that carries it is read
}

type chunk struct {
	b   []byte
	err error
}

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		full:   make(chan chunk, pipeBuffers),
		free:   make(chan []byte, pipeBuffers),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	for range pipeBuffers {
		ra.free <- make([]byte, pipeBufSize)
	}
	go ra.run(r)
	return ra
}

func (ra *readAhead) run(r io.Reader) {
	defer close(ra.exited)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := 0, error(nil)
		for n < len(buf) && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		select {
		case ra.full <- chunk{buf[:n], err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)] // never blocks: one slot per buffer
			ra.buf = nil
		}
		var c chunk
		select {
		case c = <-ra.full:
		case <-ra.exited:
			select {
			case c = <-ra.full: // sent just before it returned
			default:
				return 0, errPipeClosed
			}
		}
		ra.buf, ra.cur, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits until it no longer uses r.
func (ra *readAhead) Close() {
	select {
	case <-ra.done:
	default:
		close(ra.done)
	}
	<-ra.exited
}

// asyncWriter writes to w on its own goroutine: Write copies into a
// buffer, full buffers are written in order. The first error of w is
// returned by the next Write and by Close. Close must be called: it writes
// what is buffered and waits for the goroutine. If written is not nil, the
// goroutine calls it with each range of writebackEvery bytes it wrote (to
// start the write-back of a file early).
type asyncWriter struct {
	full   chan []byte
	free   chan []byte
	failed chan struct{} // closed after werr is set
	exited chan struct{}
	werr   error  // the first error of w; read only after failed is closed
	cur    []byte // the buffer being filled
	closed bool
}

func newAsyncWriter(w io.Writer, written func(off, n int64)) *asyncWriter {
	aw := &asyncWriter{
		full:   make(chan []byte, pipeBuffers),
		free:   make(chan []byte, pipeBuffers),
		failed: make(chan struct{}),
		exited: make(chan struct{}),
	}
	for range pipeBuffers - 1 {
		aw.free <- make([]byte, 0, pipeBufSize)
	}
	aw.cur = make([]byte, 0, pipeBufSize)
	go aw.run(w, written)
	return aw
}

func (aw *asyncWriter) run(w io.Writer, written func(off, n int64)) {
	defer close(aw.exited)
	failed := false
	var off, mark int64 // bytes written; start of the range not yet reported
	for b := range aw.full {
		if !failed {
			if _, err := w.Write(b); err != nil {
				aw.werr = err
				close(aw.failed)
				failed = true
			}
			off += int64(len(b))
			if written != nil && off-mark >= writebackEvery {
				written(mark, off-mark)
				mark = off
			}
		}
		aw.free <- b[:0] // after a failure, keep recycling so Write never blocks
	}
}

func (aw *asyncWriter) Write(p []byte) (int, error) {
	if aw.closed {
		return 0, errPipeClosed
	}
	n := 0
	for len(p) > 0 {
		select {
		case <-aw.failed:
			return n, aw.werr
		default:
		}
		k := min(len(p), cap(aw.cur)-len(aw.cur))
		aw.cur = append(aw.cur, p[:k]...)
		n += k
		p = p[k:]
		if len(aw.cur) == cap(aw.cur) {
			aw.full <- aw.cur
			aw.cur = <-aw.free
		}
	}
	return n, nil
}

// Close writes the buffered bytes, waits for the goroutine and returns the
// first error of w.
func (aw *asyncWriter) Close() error {
	if aw.closed {
		return errPipeClosed
	}
	aw.closed = true
	if len(aw.cur) > 0 {
		aw.full <- aw.cur
	}
	close(aw.full)
	<-aw.exited
	select {
	case <-aw.failed:
		return aw.werr
	default:
		return nil
	}
}
