package onion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/control"
)

// KillDelay is how long [Tor.Close] waits after SIGTERM before SIGKILL.
const KillDelay = 5 * time.Second

// requestTimeout bounds one control-port request when the caller's context
// has no earlier deadline, so that a hung tor cannot hang sandyq.
const requestTimeout = 30 * time.Second

// Config configures [Start]. Only DataDir is required.
type Config struct {
	// DataDir is the directory for everything onion: tor's own state in
	// DataDir/tor, one directory of keys per service in DataDir/services,
	// the services' unix sockets in DataDir/run. Created with mode 0700.
	DataDir string

	// Tor is the path of the tor executable. Empty: "tor" on PATH.
	Tor string

	// ExtraTorrc are torrc lines appended after ours: bridges, Sandbox 1,
	// or a private test network's DirAuthority lines. They can override
	// our settings; that is the admin's call.
	ExtraTorrc []string

	// SocksPort is the value of tor's SocksPort, e.g. "127.0.0.1:9150".
	// Empty: "0", no SOCKS port, so that tor listens on nothing (its
	// control socket is a unix socket in DataDir/tor).
	SocksPort string

	// Log receives tor's stdout: its notices and warnings, with
	// SafeLogging on (no addresses). Nil: discarded.
	Log io.Writer
}

// Tor is a running tor process started by [Start], and its control
// connection. Its methods are safe for concurrent use.
type Tor struct {
	dataDir string
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd.Wait returned
	waitErr error         // set before done is closed

	ctlNet net.Conn // the control connection, under ctlMu
	ctl    *control.Conn
	ev     *events

	ctlMu    sync.Mutex          // serialises control requests and guards the fields below
	services map[string]*Service // published services by name
	closed   bool
}

// Start starts tor with its own data directory and a control connection
// over a unix socket, and returns once the connection is authenticated
// (cookie authentication). It does not wait for tor to bootstrap:
// [Tor.Publish] waits for the descriptor upload, which needs it.
//
// The torrc (DataDir/tor/torrc, rewritten at each start) is ours plus
// [Config.ExtraTorrc]; /etc/tor is never read. Tor is started with
// SafeLogging 1, no SocksPort unless asked, no ControlPort (a
// ControlSocket instead), and __OwningControllerProcess plus TAKEOWNERSHIP,
// so that it exits when sandyq does, even after kill -9.
func Start(ctx context.Context, cfg Config) (*Tor, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("onion: no data directory")
	}
	torPath := cfg.Tor
	if torPath == "" {
		torPath = "tor"
	}
	torPath, err := exec.LookPath(torPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTor, err)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("onion: data directory: %w", err)
	}
	torDir := filepath.Join(dataDir, "tor")
	for _, d := range []string{dataDir, torDir, filepath.Join(dataDir, "services"), filepath.Join(dataDir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("onion: creating data directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("onion: data directory permissions: %w", err)
		}
	}
	sock := filepath.Join(torDir, "control.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("onion: removing old control socket: %w", err)
	}
	socks := cfg.SocksPort
	if socks == "" {
		socks = "0"
	}
	lines := []string{
		"DataDirectory " + torDir,
		"ControlPort 0",
		"ControlSocket " + sock,
		"CookieAuthentication 1",
		"SocksPort " + socks,
		"SafeLogging 1",
		"Log notice stdout",
		"__OwningControllerProcess " + strconv.Itoa(os.Getpid()),
	}
	lines = append(lines, cfg.ExtraTorrc...)
	torrc := filepath.Join(torDir, "torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("onion: writing torrc: %w", err)
	}
	defaults := filepath.Join(torDir, "torrc-defaults")
	if err := os.WriteFile(defaults, nil, 0o600); err != nil {
		return nil, fmt.Errorf("onion: writing torrc-defaults: %w", err)
	}

	cmd := exec.Command(torPath, "--defaults-torrc", defaults, "-f", torrc)
	cmd.Dir = torDir
	cmd.Stdout = cfg.Log
	cmd.Stderr = cfg.Log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("onion: starting tor: %w", err)
	}
	t := &Tor{dataDir: dataDir, cmd: cmd, done: make(chan struct{}), services: map[string]*Service{}}
	go func() {
		t.waitErr = cmd.Wait()
		close(t.done)
	}()
	if err := t.connect(ctx, sock); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// connect dials the control socket once tor has created it, authenticates
// both connections (commands, events) and takes ownership of tor.
func (t *Tor) connect(ctx context.Context, sock string) error {
	var c net.Conn
	for {
		var d net.Dialer
		var err error
		if c, err = d.DialContext(ctx, "unix", sock); err == nil {
			break
		}
		select {
		case <-t.done:
			return fmt.Errorf("%w: %v", ErrTorExited, t.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("onion: waiting for tor's control socket: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.ctlNet = c
	t.ctl = control.NewConn(textproto.NewConn(c))
	err := t.request(ctx, func() error {
		if err := t.ctl.Authenticate(""); err != nil {
			return err
		}
		return t.ctl.TakeOwnership()
	})
	if err != nil {
		c.Close()
		return fmt.Errorf("onion: control connection: %w", err)
	}
	ev, err := watchEvents(ctx, sock)
	if err != nil {
		c.Close()
		return err
	}
	t.ev = ev
	return nil
}

// request runs fn, which uses t.ctl, with a deadline on the connection
// from ctx (at most requestTimeout). The caller must hold ctlMu, or be the
// only user of t.ctl (during connect).
func (t *Tor) request(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := t.ctlNet.SetDeadline(deadline); err != nil {
		return err
	}
	defer t.ctlNet.SetDeadline(time.Time{})
	return fn()
}

// Pid returns the process ID of tor.
func (t *Tor) Pid() int { return t.cmd.Process.Pid }

// Close closes every service's listener, closes the control connections
// (tor exits on that, having been told TAKEOWNERSHIP), sends SIGTERM, and
// SIGKILL if tor is still running 5 s later. It returns after tor has
// exited. Keys stay on disk.
func (t *Tor) Close() error {
	t.ctlMu.Lock()
	if t.closed {
		t.ctlMu.Unlock()
		return nil
	}
	t.closed = true
	var errs []error
	for _, s := range t.services {
		if err := s.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	t.services = nil
	t.ev.close()
	t.ctlNet.Close()
	t.ctlMu.Unlock()
	if err := t.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stop sends SIGTERM to tor's recorded pid, SIGKILL after KillDelay, and
// waits for it to be reaped.
func (t *Tor) stop() error {
	select {
	case <-t.done:
		return nil
	default:
	}
	if err := t.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("onion: sending SIGTERM to tor: %w", err)
	}
	timer := time.NewTimer(KillDelay)
	defer timer.Stop()
	select {
	case <-t.done:
		return nil
	case <-timer.C:
	}
	err := t.cmd.Process.Kill()
	<-t.done
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("onion: sending SIGKILL to tor: %w", err)
	}
	return fmt.Errorf("onion: tor ignored SIGTERM for %v and was killed", KillDelay)
}

// WaitBootstrapped returns once tor reports that it has finished
// bootstrapping (a consensus and enough circuits to use the network), or
// when ctx ends or tor exits. A client tor started for the online tools
// waits here before its first request, so that the first error a user sees
// is about the server, not about tor still starting.
func (t *Tor) WaitBootstrapped(ctx context.Context) error {
	for {
		t.ctlMu.Lock()
		if t.closed {
			t.ctlMu.Unlock()
			return errors.New("onion: tor is closed")
		}
		var phase string
		err := t.request(ctx, func() error {
			kv, err := t.ctl.GetInfo("status/bootstrap-phase")
			if err == nil && len(kv) == 1 {
				phase = kv[0].Val
			}
			return err
		})
		t.ctlMu.Unlock()
		if err != nil {
			return fmt.Errorf("onion: asking tor for its bootstrap status: %w", err)
		}
		if strings.Contains(phase, " PROGRESS=100 ") {
			return nil
		}
		select {
		case <-t.done:
			return fmt.Errorf("%w: %v", ErrTorExited, t.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("onion: waiting for tor to bootstrap: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
