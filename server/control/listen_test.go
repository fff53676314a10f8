package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkSocket fails unless path is a socket with mode 0600.
func checkSocket(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want a socket with mode 0600", path, fi.Mode())
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// The socket is 0600 as soon as Listen returns, before Serve, and Listen
// leaves nothing else behind; Close removes it.
func TestListenMode(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "control.sock")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSocket(t, path)
	if got := dirEntries(t, dir); len(got) != 1 || got[0] != "control.sock" {
		t.Errorf("after Listen the directory holds %q, want only control.sock", got)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("after Close the directory holds %q, want nothing", got)
	}
}

// Whoever watches the path while servers come and go never sees anything
// but a 0600 socket there. (bind(2) makes sockets 0777 minus the umask: a
// socket bound in place and chmod-ed afterwards would show up here.)
func TestListenNeverWider(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "control.sock")
	var seen, bad atomic.Int64
	var badMode atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			fi, err := os.Lstat(path)
			if err != nil {
				continue
			}
			seen.Add(1)
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
				bad.Add(1)
				badMode.Store(fi.Mode().String())
			}
		}
	}()
	for range 200 {
		s, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("the socket path was seen %d times with mode %v", bad.Load(), badMode.Load())
	}
	if seen.Load() == 0 {
		t.Skip("the watcher never saw the socket: nothing checked")
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("the directory holds %q after 200 Listen/Close, want nothing", got)
	}
}

// A socket left by a crash is replaced, and the new server answers.
func TestListenReplacesStale(t *testing.T) {
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	checkStale(t, path)
}

// checkStale checks that path holds a dead socket, then that Listen
// replaces it with a working server.
func checkStale(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("want a stale socket at %s: %v %v", path, fi, err)
	}
	if err := Call(context.Background(), path, "echo", echoArgs{"x"}, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Call on a stale socket: %v, want ErrNotRunning", err)
	}
	var logs logBuffer
	start(t, path, WithLogger(logs.logger()))
	checkSocket(t, path)
	var res map[string]string
	if err := Call(context.Background(), path, "echo", echoArgs{"after"}, &res); err != nil || res["echo"] != "after" {
		t.Fatalf("Call after replacing the stale socket: %v %v", res, err)
	}
	if !strings.Contains(logs.String(), "stale socket") {
		t.Errorf("replacing a stale socket was not logged: %s", logs.String())
	}
}

// A second server on a live socket gets ErrRunning and leaves the first
// one alone.
func TestListenRunning(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	before, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Listen(path); !errors.Is(err, ErrRunning) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Listen on a live socket: %v, want ErrRunning", err)
	}
	after, err := os.Lstat(path)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the first server's socket was replaced or removed: %v", err)
	}
	var res map[string]string
	if err := Call(context.Background(), path, "echo", echoArgs{"still here"}, &res); err != nil || res["echo"] != "still here" {
		t.Fatalf("the first server stopped answering: %v %v", res, err)
	}
}

// Listen never removes what is not a socket.
func TestListenNotASocket(t *testing.T) {
	dir := shortDir(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, sub} {
		s, err := Listen(path)
		if err == nil {
			s.Close()
			t.Fatalf("Listen on %s succeeded", path)
		}
		if errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "not a socket") {
			t.Errorf("Listen on %s: %v, want a not-a-socket error", path, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("the file was touched: %q %v", b, err)
	}
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
		t.Errorf("the directory was touched: %v", err)
	}
}

func TestListenPathTooLong(t *testing.T) {
	dir := shortDir(t)
	long := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("s", 60))
	if _, err := Listen(long); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("Listen(%d-byte path): %v, want a too-long error", len(long), err)
	}
	if err := Call(context.Background(), long, "echo", nil, nil); err == nil || errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("Call(%d-byte path): %v, want a too-long error", len(long), err)
	}
	// A directory name that leaves no room for the temporary socket.
	edge := filepath.Join(dir, strings.Repeat("d", maxSockPath-len(dir)-len("/x")-1), "x")
	if err := os.MkdirAll(filepath.Dir(edge), 0o700); err != nil {
		t.Fatal(err)
	}
	if s, err := Listen(edge); err == nil {
		s.Close()
		t.Fatalf("Listen(%s) succeeded", edge)
	} else if !strings.Contains(err.Error(), "too long") {
		t.Fatalf("Listen on a too-long directory: %v", err)
	}
	if got := dirEntries(t, filepath.Dir(edge)); len(got) != 0 {
		t.Errorf("a refused Listen left %q", got)
	}
}

// Close waits for a running operation, which still answers its client,
// and removes the socket; nobody answers afterwards.
func TestCloseWaitsForHandlers(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var finished atomic.Bool
	s.Handle("slow", func(ctx context.Context, _ json.RawMessage) (any, error) {
		close(started)
		<-ctx.Done() // Close cancels it
		time.Sleep(200 * time.Millisecond)
		finished.Store(true)
		return "finished", nil
	})
	go s.Serve(context.Background())
	answer := make(chan error, 1)
	var res string
	go func() { answer <- Call(context.Background(), path, "slow", nil, &res) }()
	<-started
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !finished.Load() {
		t.Fatal("Close returned before the running operation finished")
	}
	if err := <-answer; err != nil || res != "finished" {
		t.Fatalf("the running operation's client got %q, %v", res, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Close left the socket: %v", err)
	}
	if err := Call(context.Background(), path, "slow", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Call after Close: %v, want ErrNotRunning", err)
	}
}

// Close gives up on an operation that ignores its context, says so, and
// every Close call gets the same answer.
func TestCloseBounded(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path, withTimeouts(0, 0, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	s.Handle("stuck", func(context.Context, json.RawMessage) (any, error) {
		close(started)
		<-release
		return nil, nil
	})
	go s.Serve(context.Background())
	go Call(context.Background(), path, "stuck", nil, nil)
	<-started
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- s.Close() }()
	}
	within(t, 20*time.Second, "Close", func() {
		for range 2 {
			if err := <-errs; err == nil || !strings.Contains(err.Error(), "still running") {
				t.Errorf("Close with a stuck operation: %v, want a still-running error", err)
			}
		}
	})
	close(release)
}

// Close does not wait for a client that has connected but not sent its
// request: that read is cut at once.
func TestCloseCutsPendingRequest(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path, withTimeouts(time.Hour, 0, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	registerTestOps(s)
	go s.Serve(context.Background())
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// Connections are accepted in order: once this call is answered, the
	// idle connection is being served.
	if err := Call(context.Background(), path, "echo", echoArgs{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close with a client still sending: %v", err)
	}
}

// Serve returns when its context ends, and the socket is gone.
func TestServeContext(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	if err := Call(context.Background(), path, "nothing", nil, nil); err == nil {
		t.Fatal("an unregistered operation succeeded")
	}
	cancel()
	within(t, 20*time.Second, "Serve after cancel", func() {
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	s.Close() // waits for the Close that cancel started
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket outlived Serve's context: %v", err)
	}
}

func TestHandleRegistrationPanics(t *testing.T) {
	s, err := Listen(sockPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ok := func(context.Context, json.RawMessage) (any, error) { return nil, nil }
	s.Handle("a.b", ok)
	for name, f := range map[string]func(){
		"duplicate":        func() { s.Handle("a.b", ok) },
		"duplicate stream": func() { s.HandleStream("a.b", func(context.Context, json.RawMessage, io.Writer) error { return nil }) },
		"empty name":       func() { s.Handle("", ok) },
		"upper case":       func() { s.Handle("A.b", ok) },
		"nil handler":      func() { s.Handle("c", nil) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", name)
				} else if !strings.HasPrefix(r.(string), "control: ") {
					t.Errorf("%s: panic %q lacks the package prefix", name, r)
				}
			}()
			f()
		}()
	}
}
