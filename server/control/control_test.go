package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sockPath returns a socket path short enough for sun_path (108 bytes).
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "control.sock")
}

func start(t *testing.T, path string) *Server {
	t.Helper()
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("echo", func(_ context.Context, args json.RawMessage) (any, error) {
		var a struct{ Text string }
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, Errorf("invalid", "bad args")
		}
		if a.Text == "missing" {
			return nil, Errorf("not_found", "no such thing")
		}
		if a.Text == "plain" {
			return nil, errors.New("plain failure")
		}
		return map[string]string{"echo": a.Text}, nil
	})
	s.HandleStream("count", func(_ context.Context, args json.RawMessage, w io.Writer) error {
		var a struct {
			N    int
			Fail bool
		}
		json.Unmarshal(args, &a)
		for i := range a.N {
			w.Write(bytes.Repeat([]byte{byte(i)}, 100_000))
		}
		if a.Fail {
			return Errorf("failed", "disk full")
		}
		return nil
	})
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCallAndErrors(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a 0600 socket", fi.Mode())
	}
	ctx := context.Background()
	var res map[string]string
	if err := Call(ctx, path, "echo", map[string]string{"Text": "hi"}, &res); err != nil || res["echo"] != "hi" {
		t.Fatalf("echo: %v %v", res, err)
	}
	var ce *Error
	if err := Call(ctx, path, "echo", map[string]string{"Text": "missing"}, nil); !errors.As(err, &ce) || ce.Code != "not_found" || ce.Msg != "no such thing" {
		t.Fatalf("coded error: %v", err)
	}
	if err := Call(ctx, path, "echo", map[string]string{"Text": "plain"}, nil); !errors.As(err, &ce) || ce.Code != "failed" {
		t.Fatalf("plain error: %v", err)
	}
	if err := Call(ctx, path, "nope", nil, nil); !errors.As(err, &ce) || ce.Code != "unknown_op" {
		t.Fatalf("unknown op: %v", err)
	}
	// Concurrent calls all get their own answers.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r map[string]string
			txt := strings.Repeat("x", i+1)
			if err := Call(ctx, path, "echo", map[string]string{"Text": txt}, &r); err != nil || r["echo"] != txt {
				t.Errorf("concurrent call %d: %v %v", i, r, err)
			}
		}()
	}
	wg.Wait()
}

func TestStream(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	ctx := context.Background()
	var buf bytes.Buffer
	if err := CallStream(ctx, path, "count", map[string]any{"N": 30}, &buf); err != nil || buf.Len() != 3_000_000 {
		t.Fatalf("stream: %d bytes, %v", buf.Len(), err)
	}
	buf.Reset()
	err := CallStream(ctx, path, "count", map[string]any{"N": 3, "Fail": true}, &buf)
	var ce *Error
	if !errors.As(err, &ce) || ce.Msg != "disk full" {
		t.Fatalf("failing stream: %v", err)
	}
}

// A stream that stops without its end frame is an error, never a short
// success: a fake server writes the header and half a stream.
func TestTruncatedStream(t *testing.T) {
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		c.Read(buf)
		c.Write([]byte("{\"ok\":true,\"stream\":true}\n\x00\x00\x00\x05hello"))
		c.Close()
	}()
	var out bytes.Buffer
	if err := CallStream(context.Background(), path, "backup", nil, &out); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated stream: %v", err)
	}
}

func TestNotRunningAndStale(t *testing.T) {
	path := sockPath(t)
	if err := Call(context.Background(), path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no socket: %v", err)
	}
	// A socket file nobody listens on (a crashed server).
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := Call(context.Background(), path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: %v", err)
	}
	s := start(t, path) // replaces the stale socket
	if _, err := Listen(path); !errors.Is(err, ErrRunning) {
		t.Fatalf("second server: %v, want ErrRunning", err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Close left the socket file")
	}
}

func TestBoundedRequests(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	// An oversized line is refused after at most MaxRequest bytes.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		big := bytes.Repeat([]byte("a"), 64<<10)
		for range (MaxRequest / len(big)) + 4 {
			if _, err := c.Write(big); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, _ := io.ReadAll(c)
	if !bytes.Contains(b, []byte(`"code":"invalid"`)) || !bytes.Contains(b, []byte("over")) {
		t.Fatalf("oversized request answered %q", b)
	}
	// A client that sends nothing is cut off (requestTimeout), and the
	// server keeps answering others meanwhile.
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := Call(context.Background(), path, "echo", map[string]string{"Text": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	idle.SetReadDeadline(time.Now().Add(3 * requestTimeout))
	if _, err := io.ReadAll(idle); err != nil {
		t.Fatalf("idle client not cut off: %v", err)
	}
}

// A client that never answers does not hang Call: its context ends it.
func TestCallTimeout(t *testing.T) {
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := Call(ctx, path, "echo", nil, nil); err == nil || errors.Is(err, ErrNotRunning) {
		t.Fatalf("silent server: %v, want a timeout", err)
	}
}

// Another user is refused by the peer-credential check even if the file
// mode let it connect. Needs root to run the client as another uid.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root in CI")
		}
		t.Skip("needs root to connect as another user")
	}
	path := sockPath(t)
	start(t, path)
	// Open the directory and socket to everyone, as a careless admin might.
	os.Chmod(filepath.Dir(path), 0o755)
	os.Chmod(path, 0o666)
	// The child is this test binary, copied where uid 65534 can run it.
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	binDir, err := os.MkdirTemp("", "ctlbin")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(binDir)
	os.Chmod(binDir, 0o755)
	bin := filepath.Join(binDir, "control.test")
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOtherUserChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SANDYQ_CONTROL_SOCK="+path)
	cmd.Dir = binDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if !bytes.Contains(out, []byte("REFUSED")) {
		t.Fatalf("the child running as uid 65534 was not refused:\n%s", out)
	}
}

// TestOtherUserChild is the child of TestOtherUserRefused.
func TestOtherUserChild(t *testing.T) {
	path := os.Getenv("SANDYQ_CONTROL_SOCK")
	if path == "" {
		t.Skip("helper for TestOtherUserRefused")
	}
	var res map[string]string
	err := Call(context.Background(), path, "echo", map[string]string{"Text": "hi"}, &res)
	if err == nil {
		t.Fatal("ANSWERED")
	}
	t.Logf("REFUSED: %v", err)
}
