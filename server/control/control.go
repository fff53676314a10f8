// Package control is the admin control socket of a running sandyq server:
// a unix socket (DIR/control.sock, mode 0600) through which "sandyq admin"
// asks "sandyq serve" to do what needs the store, whose file lock the
// server holds.
//
// # Protocol
//
// One request per connection. The client writes one JSON line,
//
//	{"v":1,"op":"journalist.add","args":{…}}
//
// at most MaxRequest bytes, within 10 seconds of connecting. The server
// answers with one JSON line:
//
//	{"ok":true,"result":…}
//	{"ok":false,"error":"no such journalist","code":"not_found"}
//
// or, for a stream operation, {"ok":true,"stream":true} followed by frames:
// a 4-byte big-endian length and that many bytes; a frame of length 0 ends
// the stream successfully; the length 0xFFFFFFFF is followed by one JSON
// error line and ends it with that error. A stream that ends any other way
// (the connection closed early) is an error for the client: a truncated
// backup is never taken for a complete one.
//
// Only the user that runs the server (or root) may connect: the socket is
// created 0600 inside a fresh 0700 directory and renamed into place, so it
// is never more permissive, and each connection's peer credentials
// (SO_PEERCRED) are checked too. Nothing of a request's arguments or
// results is logged: only the operation's name and the error code.
package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits.
const (
	// MaxRequest caps a request line.
	MaxRequest = 1 << 20
	// MaxResponse caps a result line the client reads.
	MaxResponse = 16 << 20
	// requestTimeout bounds reading a request.
	requestTimeout = 10 * time.Second
	// defaultCallTimeout bounds a Call whose context has no deadline.
	defaultCallTimeout = 30 * time.Second
	// maxFrame is the largest stream frame a server writes.
	maxFrame = 1 << 20
	// errFrame marks an error frame.
	errFrame = 0xFFFFFFFF
	// maxConns caps connections served at once.
	maxConns = 16
)

var (
	// ErrRunning is returned by Listen when another server answers on the
	// socket.
	ErrRunning = errors.New("another sandyq serve is running on this data directory")
	// ErrNotRunning is returned by Call when no server listens on the
	// socket: the caller may open the store itself.
	ErrNotRunning = errors.New("no sandyq serve is running on this data directory")
	// ErrTruncated is returned by CallStream for a stream that ended
	// without its final frame.
	ErrTruncated = errors.New("control: the stream ended early")
)

// Error is an operation's failure as the server reports it: a message for
// the admin and a code for programs ("not_found", "invalid", "conflict",
// "unknown_op", "failed", …).
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Handler runs an operation and returns its result (marshalled as JSON).
// An *Error keeps its code; any other error has code "failed". Messages go
// to the admin as they are: handlers must not put secrets in them.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// StreamHandler runs an operation that sends bytes back.
type StreamHandler func(ctx context.Context, args json.RawMessage, w io.Writer) error

// Server serves the control socket.
type Server struct {
	path    string
	l       *net.UnixListener
	log     *slog.Logger
	mu      sync.Mutex
	ops     map[string]Handler
	streams map[string]StreamHandler
	wg      sync.WaitGroup
	sem     chan struct{}
	closed  bool
	cancel  context.CancelFunc
	ctx     context.Context
}

// Option configures Listen.
type Option func(*Server)

// WithLogger sets the server's logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Listen creates the socket at path. A socket left by a crashed server is
// replaced; one where a server answers is ErrRunning.
func Listen(path string, opts ...Option) (*Server, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(abs); err == nil {
		c, err := net.DialTimeout("unix", abs, time.Second)
		if err == nil {
			c.Close()
			return nil, ErrRunning
		}
		if err := os.Remove(abs); err != nil {
			return nil, fmt.Errorf("control: removing a stale socket: %w", err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(abs), ".control-")
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	tmpSock := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listening: %w", err)
	}
	l.SetUnlinkOnClose(false) // it is renamed; Close removes path itself
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Rename(tmpSock, abs); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: placing the socket: %w", err)
	}
	s := &Server{path: abs, l: l, log: slog.New(slog.DiscardHandler),
		ops: map[string]Handler{}, streams: map[string]StreamHandler{}, sem: make(chan struct{}, maxConns)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Handle registers an operation.
func (s *Server) Handle(op string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[op] = h
}

// HandleStream registers an operation that streams bytes back.
func (s *Server) HandleStream(op string, h StreamHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[op] = h
}

// Serve accepts connections until Close (or ctx ends, which closes the
// server).
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for {
		c, err := s.l.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case s.sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		// Add under the lock, and never once closed: Close's Wait must not
		// run concurrently with an Add.
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			<-s.sem
			c.Close()
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			defer c.Close()
			s.serveConn(c)
		}()
	}
}

// Close stops accepting, cancels running operations' contexts, waits for
// them (at most 30 s) and removes the socket.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.l.Close()
	os.Remove(s.path)
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	return err
}

// peerAllowed checks SO_PEERCRED: the same user as this process, or root.
func peerAllowed(c *net.UnixConn) (bool, uint32) {
	raw, err := c.SyscallConn()
	if err != nil {
		return false, 0
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false, 0
	}
	return cred.Uid == uint32(os.Getuid()) || cred.Uid == 0, cred.Uid
}

type request struct {
	V    int             `json:"v"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type response struct {
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Stream bool   `json:"stream,omitempty"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
}

func (s *Server) serveConn(c *net.UnixConn) {
	if ok, uid := peerAllowed(c); !ok {
		s.log.Warn("control: refused a connection from another user", "uid", uid)
		return
	}
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	line, err := readLine(bufio.NewReaderSize(c, 4096), MaxRequest)
	if err != nil {
		writeLine(c, response{Error: "control: " + err.Error(), Code: "invalid"})
		return
	}
	c.SetReadDeadline(time.Time{})
	var req request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.V != 1 || req.Op == "" {
		writeLine(c, response{Error: "control: malformed request", Code: "invalid"})
		return
	}
	s.mu.Lock()
	h, sh := s.ops[req.Op], s.streams[req.Op]
	s.mu.Unlock()
	ctx := s.ctx
	switch {
	case h != nil:
		res, err := h(ctx, req.Args)
		if err != nil {
			s.log.Info("control: operation failed", "op", req.Op, "code", codeOf(err))
			writeLine(c, response{Error: err.Error(), Code: codeOf(err)})
			return
		}
		if err := writeLine(c, response{OK: true, Result: res}); err != nil {
			s.log.Warn("control: writing a result failed", "op", req.Op)
		}
	case sh != nil:
		if err := writeLine(c, response{OK: true, Stream: true}); err != nil {
			return
		}
		fw := &frameWriter{w: c}
		err := sh(ctx, req.Args, fw)
		if err == nil {
			fw.end() // a failure here shows the client a truncated stream
			return
		}
		s.log.Info("control: stream failed", "op", req.Op, "code", codeOf(err))
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], errFrame)
		if _, werr := c.Write(hdr[:]); werr == nil {
			writeLine(c, response{Error: err.Error(), Code: codeOf(err)})
		}
	default:
		writeLine(c, response{Error: fmt.Sprintf("control: unknown operation %q", req.Op), Code: "unknown_op"})
	}
}

func codeOf(err error) string {
	var ce *Error
	if errors.As(err, &ce) && ce.Code != "" {
		return ce.Code
	}
	return "failed"
}

// readLine reads one line of at most limit bytes (without the newline).
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 {
			return nil, fmt.Errorf("line over %d bytes", limit)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, fmt.Errorf("reading: %w", err)
		}
	}
}

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(response{Error: "control: result does not encode", Code: "failed"})
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// frameWriter cuts a stream into frames.
type frameWriter struct {
	w io.Writer
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), maxFrame)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(k))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return n, err
		}
		if _, err := f.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (f *frameWriter) end() error {
	_, err := f.w.Write([]byte{0, 0, 0, 0})
	return err
}

// conn is a client connection whose deadline follows the context.
type conn struct {
	net.Conn
	stop func() bool
}

func (c *conn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// dial connects to the socket, mapping "nobody listens" to ErrNotRunning.
func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("control: connecting: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultCallTimeout)
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	return &conn{Conn: c, stop: stop}, nil
}

func send(c net.Conn, op string, args any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("control: encoding arguments: %w", err)
	}
	return writeLine(c, request{V: 1, Op: op, Args: raw})
}

func readResponse(r *bufio.Reader) (*response, json.RawMessage, error) {
	line, err := readLine(r, MaxResponse)
	if err != nil {
		return nil, nil, fmt.Errorf("control: reading the answer: %w", err)
	}
	var resp struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Stream bool            `json:"stream"`
		Error  string          `json:"error"`
		Code   string          `json:"code"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, nil, errors.New("control: malformed answer")
	}
	if !resp.OK {
		return nil, nil, &Error{Code: resp.Code, Msg: resp.Error}
	}
	return &response{OK: true, Stream: resp.Stream}, resp.Result, nil
}

// Call runs op on the server at path with args and decodes its result into
// result (which may be nil). Without a deadline in ctx it gives up after
// 30 s. It returns ErrNotRunning when no server listens, and the server's
// *Error for a failed operation.
func Call(ctx context.Context, path, op string, args, result any) error {
	c, err := dial(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, op, args); err != nil {
		return err
	}
	resp, raw, err := readResponse(bufio.NewReader(c))
	if err != nil {
		return err
	}
	if resp.Stream {
		return errors.New("control: a stream operation called without CallStream")
	}
	if result != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, result); err != nil {
			return fmt.Errorf("control: decoding the result: %w", err)
		}
	}
	return nil
}

// CallStream runs a stream operation and copies its bytes to w. It returns
// nil only when the stream ended with its final frame.
func CallStream(ctx context.Context, path, op string, args any, w io.Writer) error {
	c, err := dial(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, op, args); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	resp, _, err := readResponse(r)
	if err != nil {
		return err
	}
	if !resp.Stream {
		return errors.New("control: the operation does not stream")
	}
	buf := make([]byte, maxFrame)
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return ErrTruncated
		}
		n := binary.BigEndian.Uint32(hdr[:])
		switch {
		case n == 0:
			return nil
		case n == errFrame:
			_, _, err := readResponse(r)
			if err == nil {
				err = errors.New("control: malformed error frame")
			}
			return err
		case n > maxFrame:
			return errors.New("control: oversized frame")
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return ErrTruncated
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
	}
}
