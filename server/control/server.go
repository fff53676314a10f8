package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Server defaults.
const (
	// requestTimeout bounds reading a request, from accept to newline.
	requestTimeout = 10 * time.Second
	// writeTimeout bounds each write to a client.
	writeTimeout = 30 * time.Second
	// closeTimeout bounds Close's wait for running operations.
	closeTimeout = 30 * time.Second
	// probeTimeout bounds Listen's check of an existing socket.
	probeTimeout = 2 * time.Second
	// maxConns caps the connections served at once.
	maxConns = 16
)

// Handler runs an operation on its JSON arguments (nil when the request
// has none) and returns its result, which is sent marshalled as JSON. An
// error's message goes to the client as it is; an *Error in its chain sets
// the code, else the code is "failed". ctx ends when the server closes.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// StreamHandler runs an operation that sends a byte stream back: what it
// writes to w reaches the client, which takes the stream as complete only
// if the handler returns nil. A write fails once the client is gone or
// stops reading for 30 seconds; the handler should then return. w must not
// be used after the handler returns.
type StreamHandler func(ctx context.Context, args json.RawMessage, w io.Writer) error

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the server's logger. The default, and nil, discard.
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// Server serves the control socket. Its methods are safe for concurrent
// use.
type Server struct {
	path string      // absolute path of the socket
	file os.FileInfo // the socket file Listen placed, so Close removes only it
	l    *net.UnixListener
	uid  int // this process's uid: the one user, with root, allowed in
	log  *slog.Logger

	requestTimeout time.Duration
	writeTimeout   time.Duration
	closeTimeout   time.Duration

	ctx    context.Context // ends when Close starts; parent of every operation's
	cancel context.CancelFunc
	slots  chan struct{} // one token per connection being served

	mu       sync.Mutex // guards the fields below
	ops      map[string]Handler
	streams  map[string]StreamHandler
	closing  bool           // Close has started
	conns    sync.WaitGroup // connections being served; Add only under mu, while !closing
	closed   chan struct{}  // closed when Close has finished
	closeErr error          // Close's result, set before closed is closed
}

// Listen creates the control socket at path (mode 0600, never more open,
// not even for an instant) and returns a server that serves it once Serve
// is called. If path holds a socket where a server answers, Listen returns
// ErrRunning; a socket left by a crashed server is replaced; a path that
// holds anything else is an error.
func Listen(path string, opts ...Option) (*Server, error) {
	s := &Server{
		uid:            os.Getuid(),
		log:            slog.New(slog.DiscardHandler),
		requestTimeout: requestTimeout,
		writeTimeout:   writeTimeout,
		closeTimeout:   closeTimeout,
		slots:          make(chan struct{}, maxConns),
		ops:            map[string]Handler{},
		streams:        map[string]StreamHandler{},
		closed:         make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("control: resolving the socket path: %w", err)
	}
	if len(abs) > maxSockPath {
		return nil, fmt.Errorf("control: socket path %s is too long (%d bytes, at most %d)", abs, len(abs), maxSockPath)
	}
	if err := s.clearStale(abs); err != nil {
		return nil, err
	}
	l, file, err := placeSocket(abs)
	if err != nil {
		return nil, err
	}
	s.path, s.file, s.l = abs, file, l
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// clearStale checks what is at path: nothing is fine, a live server is
// ErrRunning, a dead socket is removed, anything else is an error.
func (s *Server) clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("control: checking the socket path: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	switch {
	case err == nil:
		c.Close()
		return ErrRunning
	case errors.Is(err, syscall.EAGAIN):
		// The accept queue is full: a server is there, and busy.
		return ErrRunning
	case errors.Is(err, syscall.ECONNREFUSED):
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("control: removing a stale socket: %w", err)
		}
		s.log.Info("control: replaced a stale socket")
		return nil
	default:
		return fmt.Errorf("control: checking the existing socket: %w", err)
	}
}

// placeSocket binds a socket in a fresh 0700 directory beside path, makes it
// 0600 and moves it to path without replacing anything there.
func placeSocket(path string) (*net.UnixListener, os.FileInfo, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".ctl")
	if err != nil {
		return nil, nil, fmt.Errorf("control: creating the socket: %w", err)
	}
	defer os.RemoveAll(tmp) // the socket has left it by then
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, nil, fmt.Errorf("control: creating the socket: %w", err)
	}
	tmpSock := filepath.Join(tmp, "s")
	if len(tmpSock) > maxSockPath {
		return nil, nil, fmt.Errorf("control: socket path %s is too long (the directory name has %d bytes, at most %d)",
			path, len(filepath.Dir(path)), maxSockPath-(len(tmpSock)-len(filepath.Dir(path))))
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("control: creating the socket: %w", err)
	}
	l.SetUnlinkOnClose(false) // it is renamed away; Close removes path itself
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		l.Close()
		return nil, nil, err
	}
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		return fail(fmt.Errorf("control: creating the socket: %w", err))
	}
	file, err := os.Lstat(tmpSock)
	if err != nil {
		return fail(fmt.Errorf("control: creating the socket: %w", err))
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmpSock, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The file system cannot rename without replacing; link(2) never
		// replaces, and the temporary name goes with tmp.
		err = unix.Link(tmpSock, path)
	}
	if errors.Is(err, fs.ErrExist) {
		return fail(ErrRunning) // another server placed its socket meanwhile
	} else if err != nil {
		return fail(fmt.Errorf("control: placing the socket: %w", err))
	}
	return l, file, nil
}

// Path returns the socket's absolute path.
func (s *Server) Path() string { return s.path }

// Handle registers the operation op. It panics if op is not a valid name
// (see the package documentation) or is already registered.
func (s *Server) Handle(op string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkNew(op, h == nil)
	s.ops[op] = h
}

// HandleStream registers the stream operation op. It panics if op is not a
// valid name or is already registered.
func (s *Server) HandleStream(op string, h StreamHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkNew(op, h == nil)
	s.streams[op] = h
}

// checkNew panics on a bad registration. Called with s.mu held.
func (s *Server) checkNew(op string, nilHandler bool) {
	_, dup := s.ops[op]
	_, dupStream := s.streams[op]
	switch {
	case !validOp(op):
		panic(fmt.Sprintf("control: invalid operation name %q", op))
	case nilHandler:
		panic(fmt.Sprintf("control: nil handler for %q", op))
	case dup || dupStream:
		panic(fmt.Sprintf("control: operation %q registered twice", op))
	}
}

// Serve accepts and serves connections until Close is called or ctx ends
// (which calls Close). It returns nil then, and never returns before.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var backoff time.Duration
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			return nil
		}
		c, err := s.l.AcceptUnix()
		if err != nil {
			<-s.slots
			if s.isClosing() {
				return nil
			}
			// Out of descriptors or memory, say: wait and try again, as
			// net/http does, rather than leave admin without a server.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("control: accepting a connection failed; retrying", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			<-s.slots
			c.Close()
			return nil
		}
		s.conns.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				c.Close()
				<-s.slots
				s.conns.Done()
			}()
			s.serveConn(c)
		}()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close removes the socket, stops accepting, cuts off requests still
// arriving, cancels the context of running operations and waits for them
// to finish and answer, at most 30 seconds (then it returns an error). It
// is safe to call more than once; every call waits for the first.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.closed
		return s.closeErr
	}
	s.closing = true
	s.mu.Unlock()

	// Remove the socket only if it is still ours.
	if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.file) {
		os.Remove(s.path)
	}
	s.cancel()
	err := s.l.Close()
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(done)
	}()
	t := time.NewTimer(s.closeTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("control: operations still running at close")
		err = errors.Join(err, fmt.Errorf("control: operations still running after %v", s.closeTimeout))
	}
	s.closeErr = err
	close(s.closed)
	return err
}

// serveConn serves one connection: peer check, request, answer.
func (s *Server) serveConn(c *net.UnixConn) {
	uid, err := peerUID(c)
	if err != nil {
		s.log.Warn("control: refused a connection without peer credentials")
		return
	}
	if uid != s.uid && uid != 0 {
		s.log.Warn("control: refused a connection from another user", "uid", uid)
		return
	}
	req, rerr := s.readRequest(c)
	if rerr != nil {
		if rerr.Code != "" {
			s.log.Info("control: bad request", "code", rerr.Code)
			s.writeLine(c, response{Error: rerr.Msg, Code: rerr.Code})
		}
		return
	}
	s.mu.Lock()
	h, sh := s.ops[req.Op], s.streams[req.Op]
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	switch {
	case h != nil:
		s.runOp(ctx, c, req, h)
	case sh != nil:
		s.runStream(ctx, c, req, sh)
	default:
		s.log.Info("control: unknown operation", "op", req.Op, "code", CodeUnknownOp)
		s.writeLine(c, response{Error: fmt.Sprintf("control: unknown operation %q", req.Op), Code: CodeUnknownOp})
	}
}

// readRequest reads and parses the request line within the request
// timeout. An *Error with an empty code means "close without answering".
func (s *Server) readRequest(c *net.UnixConn) (*request, *Error) {
	c.SetReadDeadline(time.Now().Add(s.requestTimeout))
	stop := context.AfterFunc(s.ctx, func() { c.SetReadDeadline(time.Now()) })
	line, err := readLine(bufio.NewReaderSize(c, 4096), MaxRequest)
	stop()
	switch {
	case err == nil:
		return parseRequest(line)
	case errors.Is(err, io.EOF):
		return nil, &Error{} // connected and left: Listen's probe, say
	case errors.Is(err, errLineTooLong):
		return nil, Errorf(CodeInvalid, "control: request over %d bytes", MaxRequest)
	case errors.Is(err, os.ErrDeadlineExceeded) && s.ctx.Err() != nil:
		return nil, Errorf(CodeFailed, "control: the server is shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, Errorf(CodeInvalid, "control: no complete request within %v", s.requestTimeout)
	case errors.Is(err, errNoNewline):
		s.log.Info("control: bad request", "code", CodeInvalid)
		return nil, &Error{}
	default:
		return nil, &Error{}
	}
}

// runOp runs a plain operation and writes its answer.
func (s *Server) runOp(ctx context.Context, c *net.UnixConn, req *request, h Handler) {
	var res any
	err := s.protect(req.Op, func() (err error) {
		res, err = h(ctx, req.Args)
		return err
	})
	if err == nil {
		line, merr := json.Marshal(response{OK: true, Result: res})
		switch {
		case merr != nil:
			err = Errorf(CodeInternal, "control: %s: the result does not encode as JSON", req.Op)
		case len(line)+1 > MaxResponse:
			err = Errorf(CodeInternal, "control: %s: the result is over %d bytes", req.Op, MaxResponse)
		default:
			if werr := s.write(c, append(line, '\n')); werr != nil {
				s.log.Info("control: the client left before the answer", "op", req.Op)
				return
			}
			s.log.Info("control: operation done", "op", req.Op)
			return
		}
	}
	e := asError(err)
	s.log.Info("control: operation failed", "op", req.Op, "code", e.Code)
	s.writeLine(c, response{Error: e.Msg, Code: e.Code})
}

// runStream runs a stream operation and frames what it writes.
func (s *Server) runStream(ctx context.Context, c *net.UnixConn, req *request, h StreamHandler) {
	if err := s.writeLine(c, response{OK: true, Stream: true}); err != nil {
		s.log.Info("control: the client left before the answer", "op", req.Op)
		return
	}
	fw := &frameWriter{c: c, timeout: s.writeTimeout}
	err := s.protect(req.Op, func() error { return h(ctx, req.Args, fw) })
	if werr := fw.finish(); werr != nil {
		// Never an end mark after a broken frame: the client sees a
		// truncated stream, which is what it is.
		s.log.Info("control: stream cut off", "op", req.Op)
		return
	}
	if err != nil {
		e := asError(err)
		s.log.Info("control: operation failed", "op", req.Op, "code", e.Code)
		fw.fail(e)
		return
	}
	if err := fw.end(); err != nil {
		s.log.Info("control: stream cut off", "op", req.Op)
		return
	}
	s.log.Info("control: operation done", "op", req.Op)
}

// protect runs f and turns a panic into an internal error. Nothing of the
// panic is logged: its value or a stack trace may hold an argument.
func (s *Server) protect(op string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control: operation panicked", "op", op, "code", CodeInternal)
			err = Errorf(CodeInternal, "control: %s: internal error", op)
		}
	}()
	return f()
}

func (s *Server) writeLine(c *net.UnixConn, r response) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.write(c, append(line, '\n'))
}

func (s *Server) write(c *net.UnixConn, b []byte) error {
	c.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	_, err := c.Write(b)
	return err
}

// peerUID returns the uid of the process at the other end of c
// (SO_PEERCRED: the one that connected).
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}
