package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sandyq/internal/testenv"
)

// Environment of the helper process (this test binary, run again).
const (
	helperEnv = "SANDYQ_CONTROL_HELPER" // "server" or "client"
	sockEnv   = "SANDYQ_CONTROL_SOCK"
)

// nobody is the uid and gid the peer test connects as.
const nobody = 65534

// Another user is refused by the peer-credential check alone: the test
// opens the socket's mode to everyone, as a careless admin might, then
// connects as uid 65534 from a child process.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		if testenv.InCI() {
			t.Fatal("this test needs root in CI, to connect as another user")
		}
		t.Skip("skipping: needs root to connect as another user")
	}
	dir := shortDir(t)
	path := filepath.Join(dir, "control.sock")
	var logs logBuffer
	s, err := Listen(path, WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	s.Handle("echo", func(context.Context, json.RawMessage) (any, error) {
		calls.Add(1)
		return "answered", nil
	})
	go s.Serve(context.Background())
	defer s.Close()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}

	// The child is this test binary, copied where uid 65534 can run it.
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	binDir := shortDir(t)
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "control.test")
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(uid uint32) string {
		cmd := exec.Command(bin, "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"=client", sockEnv+"="+path)
		cmd.Dir = binDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the child (uid %d) failed: %v\n%s", uid, err, out)
		}
		return string(out)
	}

	// Control: the same child as root is answered.
	if out := run(0); !strings.Contains(out, `CONNECTED answer="{\"ok\":true,\"result\":\"answered\"}\n"`) {
		t.Fatalf("the child running as root was not answered:\n%s", out)
	}
	if calls.Load() != 1 {
		t.Fatalf("the operation ran %d times for root, want 1", calls.Load())
	}
	out := run(nobody)
	if !strings.Contains(out, `CONNECTED answer=""`) {
		t.Fatalf("the child running as uid %d was not refused after connecting:\n%s", nobody, out)
	}
	if calls.Load() != 1 {
		t.Fatalf("the operation ran for uid %d", nobody)
	}
	s.Close()
	if log := logs.String(); !strings.Contains(log, "refused a connection from another user") || !strings.Contains(log, fmt.Sprintf("uid=%d", nobody)) {
		t.Fatalf("the refusal was not logged with the uid:\n%s", log)
	}
}

// TestHelperProcess is the child of TestOtherUserRefused and
// TestStreamServerKilled; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(sockEnv)
	switch os.Getenv(helperEnv) {
	case "client":
		// Connect, send a request, print what comes back. Raw, so that a
		// refused connect and a refusal after connecting look different.
		c, err := net.Dial("unix", path)
		if err != nil {
			fmt.Printf("DIAL FAILED: %v\n", err)
			return
		}
		defer c.Close()
		c.Write([]byte(`{"v":1,"op":"echo"}` + "\n"))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, err := io.ReadAll(c)
		fmt.Printf("CONNECTED answer=%q err=%v\n", b, err)
	case "server":
		s, err := Listen(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		registerTestOps(s)
		s.HandleStream("endless", func(ctx context.Context, _ json.RawMessage, w io.Writer) error {
			buf := make([]byte, 256<<10)
			for ctx.Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return ctx.Err()
		})
		s.Serve(context.Background()) // until killed
		os.Exit(1)
	default:
		t.Skip("helper process for other tests")
	}
}
