package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// shortDir returns a fresh 0700 directory with a path short enough for a
// socket (sun_path holds 108 bytes; t.TempDir's names can be longer).
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func sockPath(t testing.TB) string {
	return filepath.Join(shortDir(t), "control.sock")
}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// withTimeouts shortens the server's timeouts for tests; zero keeps one.
func withTimeouts(request, write, close time.Duration) Option {
	return func(s *Server) {
		if request > 0 {
			s.requestTimeout = request
		}
		if write > 0 {
			s.writeTimeout = write
		}
		if close > 0 {
			s.closeTimeout = close
		}
	}
}

type echoArgs struct {
	Text string `json:"text"`
}

// registerTestOps registers the operations the tests call:
//
//	echo        returns {"echo":text}; text "missing" fails with not_found,
//	            "wrapped" with a wrapped conflict, "plain" with a plain
//	            error, "panic" panics
//	nothing     returns nothing
//	count       streams n blocks of 100 000 bytes (block i filled with
//	            byte i), then fails if fail is set, or panics if panic is
func registerTestOps(s *Server) {
	s.Handle("echo", func(_ context.Context, args json.RawMessage) (any, error) {
		var a echoArgs
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, Errorf(CodeInvalid, "echo: bad arguments")
		}
		switch a.Text {
		case "missing":
			return nil, Errorf(CodeNotFound, "no such thing")
		case "wrapped":
			return nil, fmt.Errorf("adding: %w", Errorf(CodeConflict, "already there"))
		case "plain":
			return nil, errors.New("plain failure")
		case "panic":
			panic("handler bug")
		}
		return map[string]string{"echo": a.Text}, nil
	})
	s.Handle("nothing", func(context.Context, json.RawMessage) (any, error) { return nil, nil })
	s.HandleStream("count", func(_ context.Context, args json.RawMessage, w io.Writer) error {
		var a struct {
			N     int  `json:"n"`
			Fail  bool `json:"fail"`
			Panic bool `json:"panic"`
		}
		if err := json.Unmarshal(args, &a); err != nil {
			return Errorf(CodeInvalid, "count: bad arguments")
		}
		for i := range a.N {
			if _, err := w.Write(block(i)); err != nil {
				return err
			}
		}
		if a.Fail {
			return Errorf(CodeFailed, "disk full")
		}
		if a.Panic {
			panic("stream bug")
		}
		return nil
	})
}

func block(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100_000) }

func countBytes(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, block(i)...)
	}
	return b
}

// start listens at path with the test operations and serves until the
// test ends.
func start(t testing.TB, path string, opts ...Option) *Server {
	t.Helper()
	s, err := Listen(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	registerTestOps(s)
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// rawRequest sends b on a new connection and returns everything the
// server sends back until it closes.
func rawRequest(t *testing.T, path string, b []byte) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", b, err)
	}
	return string(out)
}

// fakeServer accepts connections at path and hands each to serve, for
// servers that misbehave.
func fakeServer(t *testing.T, path string, serve func(net.Conn)) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
}

// within fails the test if f does not return in d: a hang is a failure,
// not a stuck test binary.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}
