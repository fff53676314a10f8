package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCall(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	ctx := context.Background()
	var res map[string]string
	if err := Call(ctx, path, "echo", echoArgs{"hi"}, &res); err != nil || res["echo"] != "hi" {
		t.Fatalf("echo: %v %v", res, err)
	}
	// No arguments, no result, nil result pointer.
	keep := map[string]string{"untouched": "yes"}
	if err := Call(ctx, path, "nothing", nil, &keep); err != nil || keep["untouched"] != "yes" {
		t.Fatalf("nothing: %v %v", keep, err)
	}
	if err := Call(ctx, path, "echo", echoArgs{"x"}, nil); err != nil {
		t.Fatalf("echo with a nil result: %v", err)
	}
	var wrong []int
	if err := Call(ctx, path, "echo", echoArgs{"x"}, &wrong); err == nil || !strings.Contains(err.Error(), "decoding the result") {
		t.Fatalf("a result of the wrong type: %v", err)
	}
}

// The exact bytes on the wire, as docs/format.md describes them.
func TestWireFormat(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	for _, tc := range []struct{ req, want string }{
		{`{"v":1,"op":"echo","args":{"text":"x"}}` + "\n", `{"ok":true,"result":{"echo":"x"}}` + "\n"},
		{`{"v":1,"op":"nothing"}` + "\n", `{"ok":true}` + "\n"},
		{`{"v":1,"op":"echo","args":{"text":"missing"}}` + "\n", `{"ok":false,"error":"no such thing","code":"not_found"}` + "\n"},
		{`{"v":1,"op":"no.such"}` + "\n", `{"ok":false,"error":"control: unknown operation \"no.such\"","code":"unknown_op"}` + "\n"},
		// Nothing after the newline is read.
		{`{"v":1,"op":"nothing"}` + "\n" + `{"v":1,"op":"echo"}` + "\n", `{"ok":true}` + "\n"},
		{`{"v":1,"op":"count","args":{"n":0}}` + "\n", `{"ok":true,"stream":true}` + "\n\x00\x00\x00\x00"},
		{`{"v":1,"op":"count","args":{"n":0,"fail":true}}` + "\n", `{"ok":true,"stream":true}` + "\n\xff\xff\xff\xff" + `{"ok":false,"error":"disk full","code":"failed"}` + "\n"},
	} {
		if got := rawRequest(t, path, []byte(tc.req)); got != tc.want {
			t.Errorf("request %q:\n got %q\nwant %q", tc.req, got, tc.want)
		}
	}
}

func TestCallErrors(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	ctx := context.Background()
	for _, tc := range []struct {
		op         string
		args       any
		code, msg  string
		msgContain bool
	}{
		{"echo", echoArgs{"missing"}, CodeNotFound, "no such thing", false},
		{"echo", echoArgs{"wrapped"}, CodeConflict, "adding: already there", false},
		{"echo", echoArgs{"plain"}, CodeFailed, "plain failure", false},
		{"echo", echoArgs{"panic"}, CodeInternal, "internal error", true},
		{"echo", 42, CodeInvalid, "echo: bad arguments", false},
		{"no.such.op", nil, CodeUnknownOp, `unknown operation "no.such.op"`, true},
	} {
		err := Call(ctx, path, tc.op, tc.args, nil)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s %v: %v, want an *Error", tc.op, tc.args, err)
			continue
		}
		if ce.Code != tc.code || (tc.msgContain && !strings.Contains(ce.Msg, tc.msg)) || (!tc.msgContain && ce.Msg != tc.msg) {
			t.Errorf("%s %v: code %q message %q, want %q %q", tc.op, tc.args, ce.Code, ce.Msg, tc.code, tc.msg)
		}
		if errors.Is(err, ErrNotRunning) {
			t.Errorf("%s %v: a server error wraps ErrNotRunning", tc.op, tc.args)
		}
	}
	// A panic did not take the server down.
	if err := Call(ctx, path, "echo", echoArgs{"x"}, nil); err != nil {
		t.Fatalf("after a panicking operation: %v", err)
	}
}

// Results the server cannot send become internal errors.
func TestBadResults(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("huge", func(context.Context, json.RawMessage) (any, error) {
		return strings.Repeat("x", MaxResponse), nil
	})
	s.Handle("chan", func(context.Context, json.RawMessage) (any, error) {
		return make(chan int), nil
	})
	go s.Serve(context.Background())
	defer s.Close()
	for _, op := range []string{"huge", "chan"} {
		var ce *Error
		if err := Call(context.Background(), path, op, nil, nil); !errors.As(err, &ce) || ce.Code != CodeInternal {
			t.Errorf("%s: %v, want an internal error", op, err)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	for _, req := range []string{
		"not json\n",
		"\n",
		"[]\n",
		"null\n",
		`{"v":1,"op":"echo","extra":1}` + "\n",
		`{"v":2,"op":"echo"}` + "\n",
		`{"op":"echo"}` + "\n",
		`{"v":"1","op":"echo"}` + "\n",
		`{"v":1,"op":"Echo"}` + "\n",
		`{"v":1,"op":""}` + "\n",
		`{"v":1,"op":"echo\u0000"}` + "\n",
		`{"v":1,"op":"` + strings.Repeat("a", maxOp+1) + `"}` + "\n",
		`{"v":1,"op":"echo"} {}` + "\n",
		`{"v":1,"op":"echo"}}` + "\n",
		`{"v":1,"op":"echo","args":{"text":"x"}` + "\n",
	} {
		got := rawRequest(t, path, []byte(req))
		var r wireResponse
		if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") || json.Unmarshal([]byte(got), &r) != nil || r.OK || r.Code != CodeInvalid {
			t.Errorf("request %q answered %q, want one invalid-request line", req, got)
		}
	}
	// A client that leaves mid-line gets nothing, and the server goes on.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(`{"v":1,`))
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("a half-sent request was answered %q, %v", b, err)
	}
	c.Close()
	if err := Call(context.Background(), path, "echo", echoArgs{"x"}, nil); err != nil {
		t.Fatal(err)
	}
}

// A request line may have MaxRequest bytes, newline included, and no more;
// the server stops reading an oversized one at the limit.
func TestRequestSize(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	line := func(size int) []byte {
		head, tail := `{"v":1,"op":"echo","args":{"text":"`, `"}}`+"\n"
		return []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)
	}
	got := rawRequest(t, path, line(MaxRequest))
	if !strings.HasPrefix(got, `{"ok":true,"result":{"echo":"xxx`) {
		t.Fatalf("a request of exactly MaxRequest bytes: %.100q", got)
	}
	got = rawRequest(t, path, line(MaxRequest+1))
	if !strings.Contains(got, `"code":"invalid"`) || !strings.Contains(got, "over 1048576 bytes") {
		t.Fatalf("a request of MaxRequest+1 bytes: %.100q", got)
	}

	// 64 MiB without a newline: the server must stop reading at the limit,
	// so the writer is cut off after about MaxRequest bytes plus what the
	// socket buffers hold.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	written := make(chan int, 1)
	go func() {
		chunk := []byte(strings.Repeat("a", 64<<10))
		n := 0
		for n < 64<<20 {
			k, err := c.Write(chunk)
			n += k
			if err != nil {
				break
			}
		}
		written <- n
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line1, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line1, `"code":"invalid"`) || !strings.Contains(line1, "over") {
		t.Fatalf("a 64 MiB request was answered %q", line1)
	}
	n := <-written
	if n >= 64<<20 || n > MaxRequest+8<<20 {
		t.Fatalf("the server took %d bytes of an oversized request, want it to stop near %d", n, MaxRequest)
	}
	t.Logf("the server took %d bytes of a 64 MiB request before closing", n)

	// The client refuses to send an oversized request at all.
	err = Call(context.Background(), path, "echo", echoArgs{strings.Repeat("x", MaxRequest)}, nil)
	var ce *Error
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "over") {
		t.Fatalf("Call with an oversized request: %v", err)
	}
}

// A client that does not send its request in time is answered and cut
// off, whether it sends nothing or dribbles bytes; others are served
// meanwhile.
func TestSlowClient(t *testing.T) {
	path := sockPath(t)
	start(t, path, withTimeouts(300*time.Millisecond, 0, 0))
	for _, dribble := range []bool{false, true} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		if dribble {
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
		}
		if err := Call(context.Background(), path, "echo", echoArgs{"meanwhile"}, nil); err != nil {
			t.Errorf("a call beside a slow client: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, _ := io.ReadAll(c)
		close(stop)
		c.Close()
		if !strings.Contains(string(got), `"code":"invalid"`) || !strings.Contains(string(got), "no complete request") {
			t.Errorf("slow client (dribbling %v) got %q", dribble, got)
		}
	}
}

func TestNotRunning(t *testing.T) {
	dir := shortDir(t)
	ctx := context.Background()
	for name, path := range map[string]string{
		"no socket":    dir + "/control.sock",
		"no directory": dir + "/nowhere/control.sock",
	} {
		if err := Call(ctx, path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Call, %s: %v, want ErrNotRunning", name, err)
		}
		if err := CallStream(ctx, path, "count", nil, io.Discard); !errors.Is(err, ErrNotRunning) {
			t.Errorf("CallStream, %s: %v, want ErrNotRunning", name, err)
		}
	}
	// A socket file with nobody behind it (a crashed server).
	path := dir + "/stale.sock"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := Call(ctx, path, "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Call, stale socket: %v, want ErrNotRunning", err)
	}
	if err := CallStream(ctx, path, "count", nil, io.Discard); !errors.Is(err, ErrNotRunning) {
		t.Errorf("CallStream, stale socket: %v, want ErrNotRunning", err)
	}
}

// A server that accepts and never answers gives a timeout, never a hang,
// and never ErrNotRunning (the store is locked: admin must not try it).
func TestCallTimeout(t *testing.T) {
	path := sockPath(t)
	fakeServer(t, path, func(c net.Conn) {
		io.Copy(io.Discard, c) // reads the request, answers nothing
	})
	check := func(name string, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) || errors.Is(err, ErrNotRunning) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	within(t, 30*time.Second, "Call", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := Call(ctx, path, "echo", nil, nil)
		check("context deadline", err, context.DeadlineExceeded)
		if err != nil && !strings.Contains(err.Error(), "did not answer in time") {
			t.Errorf("timeout message %q does not say what happened", err)
		}

		// No deadline in the context: the default applies.
		check("default timeout", call(context.Background(), path, "echo", nil, nil, 300*time.Millisecond), context.DeadlineExceeded)

		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		check("cancelled", Call(ctx, path, "echo", nil, nil), context.Canceled)
	})
}

// A server that closes without answering is an error, not a success.
func TestNoAnswer(t *testing.T) {
	path := sockPath(t)
	fakeServer(t, path, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
	})
	if err := Call(context.Background(), path, "echo", nil, nil); err == nil || errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "without answering") {
		t.Fatalf("a server that hangs up: %v", err)
	}
}

// Many clients at once, more than the server serves at a time, all get
// their own answers.
func TestConcurrentCalls(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	var wg sync.WaitGroup
	for i := range 4 * maxConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				txt := fmt.Sprintf("%d-%d", i, j)
				var r map[string]string
				if err := Call(context.Background(), path, "echo", echoArgs{txt}, &r); err != nil || r["echo"] != txt {
					t.Errorf("call %s: %v %v", txt, r, err)
				}
			}
			if i%8 == 0 {
				var buf strings.Builder
				if err := CallStream(context.Background(), path, "count", map[string]int{"n": 5}, &buf); err != nil || buf.String() != string(countBytes(5)) {
					t.Errorf("stream %d: %d bytes, %v", i, buf.Len(), err)
				}
			}
		}()
	}
	wg.Wait()
}

// Arguments, results and error messages never reach the log; operation
// names and codes do.
func TestLogHygiene(t *testing.T) {
	const secret = "AGE-SECRET-KEY-PQ-1MARKER"
	path := sockPath(t)
	var logs logBuffer
	s, err := Listen(path, WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("secret.op", func(_ context.Context, args json.RawMessage) (any, error) {
		var a echoArgs
		json.Unmarshal(args, &a)
		if a.Text == "fail" {
			return nil, Errorf(CodeConflict, "conflict with %s", secret)
		}
		if a.Text == "panic" {
			panic(secret)
		}
		return map[string]string{"key": secret}, nil
	})
	s.HandleStream("secret.stream", func(_ context.Context, _ json.RawMessage, w io.Writer) error {
		io.WriteString(w, secret)
		return fmt.Errorf("failed near %s", secret)
	})
	go s.Serve(context.Background())
	ctx := context.Background()
	Call(ctx, path, "secret.op", echoArgs{secret}, nil)
	Call(ctx, path, "secret.op", map[string]string{"text": "fail", "also": secret}, nil)
	Call(ctx, path, "secret.op", echoArgs{"panic"}, nil)
	CallStream(ctx, path, "secret.stream", echoArgs{secret}, io.Discard)
	rawRequest(t, path, []byte(`{"v":1,"op":"secret.op","`+secret+`":1}`+"\n"))
	rawRequest(t, path, []byte(`{"v":1,"op":"`+secret+`"}`+"\n"))
	s.Close()

	out := logs.String()
	if strings.Contains(out, secret) || strings.Contains(out, "MARKER") {
		t.Fatalf("the log holds a secret:\n%s", out)
	}
	for _, want := range []string{"op=secret.op", "op=secret.stream", "code=conflict", "code=internal", "code=failed", "code=invalid"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

// The wrong call for the kind of operation is an error on both sides.
func TestCallKindMismatch(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	if err := Call(context.Background(), path, "count", map[string]int{"n": 1}, nil); err == nil || !strings.Contains(err.Error(), "use CallStream") {
		t.Errorf("Call on a stream operation: %v", err)
	}
	if err := CallStream(context.Background(), path, "echo", echoArgs{"x"}, io.Discard); err == nil || !strings.Contains(err.Error(), "use Call") {
		t.Errorf("CallStream on a plain operation: %v", err)
	}
	if err := Call(context.Background(), path, "Bad Name", nil, nil); err == nil || !strings.Contains(err.Error(), "invalid operation name") {
		t.Errorf("Call with a bad operation name: %v", err)
	}
}
