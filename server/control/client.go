package control

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Client defaults.
const (
	// defaultCallTimeout bounds a Call whose context has no deadline.
	defaultCallTimeout = 30 * time.Second
	// streamIdleTimeout bounds the silence between reads of CallStream.
	streamIdleTimeout = 30 * time.Second
)

// Call runs the operation op on the server listening at path, with args
// marshalled as JSON (nil for none), and unmarshals its result into result
// (which may be nil). It gives up when ctx ends, or after 30 seconds if ctx
// has no deadline.
//
// When no server listens at path the error wraps ErrNotRunning. When the
// operation fails on the server the error is an *Error carrying the
// server's code and message.
func Call(ctx context.Context, path, op string, args, result any) error {
	return call(ctx, path, op, args, result, defaultCallTimeout)
}

func call(ctx context.Context, path, op string, args, result any, timeout time.Duration) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cc, err := dial(ctx, path, op, 0)
	if err != nil {
		return err
	}
	defer cc.close()
	if err := cc.send(args); err != nil {
		return err
	}
	resp, err := cc.readResponse()
	if err != nil {
		return err
	}
	if resp.Stream {
		return fmt.Errorf("control: %s is a stream operation (use CallStream)", op)
	}
	if result != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("control: %s: decoding the result: %w", op, err)
		}
	}
	return nil
}

// CallStream runs the stream operation op and copies the stream to w as it
// arrives. It returns nil only if the whole stream arrived and the server
// marked it complete; after any error, what reached w is partial and must
// be discarded. A stream that ends early gives an error wrapping
// ErrTruncated. CallStream gives up when ctx ends, or when the server sends
// nothing for 30 seconds.
//
// Errors are as for Call; a failure of w is returned as it is, wrapped.
func CallStream(ctx context.Context, path, op string, args any, w io.Writer) error {
	return callStream(ctx, path, op, args, w, streamIdleTimeout)
}

func callStream(ctx context.Context, path, op string, args any, w io.Writer, idle time.Duration) error {
	cc, err := dial(ctx, path, op, idle)
	if err != nil {
		return err
	}
	defer cc.close()
	if err := cc.send(args); err != nil {
		return err
	}
	resp, err := cc.readResponse()
	if err != nil {
		return err
	}
	if !resp.Stream {
		return fmt.Errorf("control: %s is not a stream operation (use Call)", op)
	}
	err = copyFrames(cc.br, w)
	var ce *Error
	var we *writeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &we):
		return fmt.Errorf("control: %s: writing the stream: %w", op, we.err)
	case errors.Is(err, errMalformedStream):
		return fmt.Errorf("control: %s: %w", op, err)
	default:
		return cc.streamError(err)
	}
}

var errMalformedStream = errors.New("malformed stream")

// writeError is a failure of the writer CallStream copies to.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// copyFrames copies a framed stream from r to w. It returns nil at the end
// frame; the *Error of an error frame; a *writeError when w fails; an error
// wrapping errMalformedStream; or r's error, io.EOF or io.ErrUnexpectedEOF
// (or errNoNewline inside an error line) when the stream stops early.
func copyFrames(r *bufio.Reader, w io.Writer) error {
	buf := make([]byte, 64<<10)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		switch {
		case n == 0:
			return nil
		case n == errFrame:
			line, err := readLine(r, MaxResponse)
			if errors.Is(err, errLineTooLong) {
				return fmt.Errorf("%w: error line over %d bytes", errMalformedStream, MaxResponse)
			} else if err != nil {
				return err
			}
			if _, err := parseResponse(line); err != nil {
				var ce *Error
				if errors.As(err, &ce) {
					return ce
				}
			}
			return fmt.Errorf("%w: bad error frame", errMalformedStream)
		case n > MaxFrame:
			return fmt.Errorf("%w: a frame of %d bytes", errMalformedStream, n)
		}
		for n > 0 {
			k := min(int(n), len(buf))
			if _, err := io.ReadFull(r, buf[:k]); err == io.EOF {
				return io.ErrUnexpectedEOF
			} else if err != nil {
				return err
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return &writeError{err}
			}
			n -= uint32(k)
		}
	}
}

// clientConn is one client connection: its reads and writes end when ctx
// does, and, if idle is set, when the server is silent for that long.
type clientConn struct {
	c    *net.UnixConn
	br   *bufio.Reader // reads through the clientConn, for the idle deadline
	ctx  context.Context
	op   string
	idle time.Duration
	stop func() bool

	mu        sync.Mutex // guards cancelled, and orders deadline changes
	cancelled bool       // ctx ended: the deadline stays in the past
}

// dial connects to the server, mapping "nobody listens" to ErrNotRunning.
func dial(ctx context.Context, path, op string, idle time.Duration) (*clientConn, error) {
	if !validOp(op) {
		return nil, fmt.Errorf("control: invalid operation name %q", op)
	}
	if len(path) > maxSockPath {
		return nil, fmt.Errorf("control: socket path %s is too long (%d bytes, at most %d)", path, len(path), maxSockPath)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("control: %w", ErrNotRunning)
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("control: %s: connecting: %w", op, cerr)
		}
		return nil, fmt.Errorf("control: %s: connecting: %w", op, err)
	}
	cc := &clientConn{c: nc.(*net.UnixConn), ctx: ctx, op: op, idle: idle}
	cc.br = bufio.NewReader(readerFunc(cc.read))
	if dl, ok := ctx.Deadline(); ok {
		cc.c.SetDeadline(dl)
	}
	cc.stop = context.AfterFunc(ctx, func() {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		cc.cancelled = true
		cc.c.SetDeadline(time.Now())
	})
	return cc, nil
}

func (cc *clientConn) close() {
	cc.stop()
	cc.c.Close()
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (cc *clientConn) read(p []byte) (int, error) {
	if cc.idle > 0 {
		cc.mu.Lock()
		if !cc.cancelled {
			d := time.Now().Add(cc.idle)
			if dl, ok := cc.ctx.Deadline(); ok && dl.Before(d) {
				d = dl
			}
			cc.c.SetReadDeadline(d)
		}
		cc.mu.Unlock()
	}
	return cc.c.Read(p)
}

// send writes the request line.
func (cc *clientConn) send(args any) error {
	req := request{V: 1, Op: cc.op}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("control: %s: encoding the arguments: %w", cc.op, err)
		}
		req.Args = raw
	}
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("control: %s: encoding the request: %w", cc.op, err)
	}
	line = append(line, '\n')
	if len(line) > MaxRequest {
		return fmt.Errorf("control: %s: the request is over %d bytes", cc.op, MaxRequest)
	}
	if _, err := cc.c.Write(line); err != nil {
		return cc.ioError("sending the request", err)
	}
	return nil
}

// readResponse reads the answer line.
func (cc *clientConn) readResponse() (*wireResponse, error) {
	line, err := readLine(cc.br, MaxResponse)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, errNoNewline), errors.Is(err, syscall.ECONNRESET):
		return nil, fmt.Errorf("control: %s: the server closed the connection without answering", cc.op)
	case errors.Is(err, errLineTooLong):
		return nil, fmt.Errorf("control: %s: the answer is over %d bytes", cc.op, MaxResponse)
	default:
		return nil, cc.ioError("reading the answer", err)
	}
	resp, err := parseResponse(line)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, fmt.Errorf("control: %s: %w", cc.op, err)
	}
	return resp, nil
}

// streamError maps a failed read inside a stream: an early end is a
// truncated stream.
func (cc *clientConn) streamError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, errNoNewline) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("control: %s: %w", cc.op, ErrTruncated)
	}
	return cc.ioError("reading the stream", err)
}

// ioError says why a read or write failed, in the caller's terms when it
// was a deadline.
func (cc *clientConn) ioError(what string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if dl, ok := cc.ctx.Deadline(); ok && !time.Now().Before(dl) {
			return fmt.Errorf("control: %s: the server did not answer in time: %w", cc.op, context.DeadlineExceeded)
		}
		if cerr := cc.ctx.Err(); cerr != nil {
			return fmt.Errorf("control: %s: %w", cc.op, cerr)
		}
		if cc.idle > 0 {
			return fmt.Errorf("control: %s: the server sent nothing for %v: %w", cc.op, cc.idle, err)
		}
	}
	return fmt.Errorf("control: %s: %s: %w", cc.op, what, err)
}
