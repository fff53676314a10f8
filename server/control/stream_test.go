package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestStream(t *testing.T) {
	path := sockPath(t)
	s := start(t, path)
	big := bytes.Repeat([]byte("0123456789abcdef"), (5*MaxFrame/2)/16+1) // spans three frames
	s.HandleStream("big", func(_ context.Context, _ json.RawMessage, w io.Writer) error {
		w.Write(nil) // an empty write sends nothing, least of all an end mark
		if _, err := w.Write(big); err != nil {
			return err
		}
		_, err := w.Write([]byte("!"))
		return err
	})
	ctx := context.Background()
	var buf bytes.Buffer
	if err := CallStream(ctx, path, "count", map[string]int{"n": 30}, &buf); err != nil || !bytes.Equal(buf.Bytes(), countBytes(30)) {
		t.Fatalf("count: %d bytes, %v", buf.Len(), err)
	}
	buf.Reset()
	if err := CallStream(ctx, path, "big", nil, &buf); err != nil || !bytes.Equal(buf.Bytes(), append(big, '!')) {
		t.Fatalf("big: %d bytes, %v", buf.Len(), err)
	}
	buf.Reset()
	if err := CallStream(ctx, path, "count", map[string]int{"n": 0}, &buf); err != nil || buf.Len() != 0 {
		t.Fatalf("empty stream: %d bytes, %v", buf.Len(), err)
	}
}

// A handler that fails or panics mid-stream fails the call, with its code.
func TestStreamHandlerFails(t *testing.T) {
	path := sockPath(t)
	start(t, path)
	for _, tc := range []struct {
		args      map[string]any
		code, msg string
	}{
		{map[string]any{"n": 3, "fail": true}, CodeFailed, "disk full"},
		{map[string]any{"n": 3, "panic": true}, CodeInternal, "control: count: internal error"},
		{map[string]any{"n": "x"}, CodeInvalid, "count: bad arguments"},
	} {
		var buf bytes.Buffer
		err := CallStream(context.Background(), path, "count", tc.args, &buf)
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != tc.code || ce.Msg != tc.msg {
			t.Errorf("%v: %v, want %s %q", tc.args, err, tc.code, tc.msg)
		}
	}
}

// Every way a stream can stop short is an error for the client, and only
// a stream with its end mark is a success.
func TestStreamTruncated(t *testing.T) {
	const head = `{"ok":true,"stream":true}` + "\n"
	for _, tc := range []struct {
		name, sent string
		truncated  bool // else: some other error; "" = success
		ok         bool
	}{
		{"complete", head + "\x00\x00\x00\x05hello\x00\x00\x00\x00", false, true},
		{"header only", head, true, false},
		{"no end mark", head + "\x00\x00\x00\x05hello", true, false},
		{"short frame", head + "\x00\x00\x00\x05hel", true, false},
		{"short length", head + "\x00\x00", true, false},
		{"error frame cut", head + "\xff\xff\xff\xff" + `{"ok":false,"error":"x"`, true, false},
		{"error frame says ok", head + "\xff\xff\xff\xff" + `{"ok":true}` + "\n", false, false},
		{"oversized frame", head + "\x00\x10\x00\x01", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sockPath(t)
			fakeServer(t, path, func(c net.Conn) {
				bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, tc.sent)
			})
			var out bytes.Buffer
			err := CallStream(context.Background(), path, "backup", nil, &out)
			switch {
			case tc.ok:
				if err != nil || out.String() != "hello" {
					t.Fatalf("%q, %v; want hello", out.String(), err)
				}
			case tc.truncated:
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("%v, want ErrTruncated", err)
				}
			default:
				if err == nil || errors.Is(err, ErrTruncated) {
					t.Fatalf("%v, want a protocol error", err)
				}
			}
		})
	}
}

// kill -9 of the server mid-stream: the client sees a truncated stream,
// and the socket left behind is stale: Call says not running, and a new
// server replaces it.
func TestStreamServerKilled(t *testing.T) {
	path := sockPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=server", sockEnv+"="+path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := Call(context.Background(), path, "echo", echoArgs{"up?"}, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNotRunning) || time.Now().After(deadline) {
			t.Fatalf("the helper server does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var got atomic.Int64
	w := writerFunc(func(p []byte) (int, error) {
		if got.Add(int64(len(p))) >= 4<<20 && !killed {
			killed = true
			cmd.Process.Kill()
			cmd.Wait()
		}
		return len(p), nil
	})
	err := CallStream(context.Background(), path, "endless", nil, w)
	if !killed {
		t.Fatalf("the stream ended before the kill: %v", err)
	}
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("stream cut by kill -9: %v, want ErrTruncated", err)
	}
	checkStale(t, path)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A server that starts a stream and then goes silent is given up on.
func TestStreamIdleTimeout(t *testing.T) {
	path := sockPath(t)
	fakeServer(t, path, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, `{"ok":true,"stream":true}`+"\n\x00\x00\x00\x02hi")
		io.Copy(io.Discard, c)
	})
	within(t, 30*time.Second, "CallStream", func() {
		err := callStream(context.Background(), path, "backup", nil, io.Discard, 300*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "sent nothing for") {
			t.Errorf("idle stream: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := CallStream(ctx, path, "backup", nil, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("idle stream with a context deadline: %v", err)
		}
	})
}

// A client whose writer fails gets that error, and the server's handler
// sees its writes fail, stops, and leaves Close nothing to wait for.
func TestStreamClientGone(t *testing.T) {
	path := sockPath(t)
	var logs logBuffer
	s := start(t, path, WithLogger(logs.logger()), withTimeouts(0, 0, 20*time.Second))
	handlerErr := make(chan error, 1)
	s.HandleStream("flood", func(ctx context.Context, _ json.RawMessage, w io.Writer) error {
		for {
			if _, err := w.Write(make([]byte, 64<<10)); err != nil {
				handlerErr <- err
				return err
			}
		}
	})
	diskFull := errors.New("disk full")
	err := CallStream(context.Background(), path, "flood", nil, writerFunc(func([]byte) (int, error) { return 0, diskFull }))
	if !errors.Is(err, diskFull) {
		t.Fatalf("CallStream with a failing writer: %v, want it wrapped", err)
	}
	within(t, 60*time.Second, "the handler", func() {
		if err := <-handlerErr; err == nil {
			t.Error("the handler's write did not fail")
		}
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !strings.Contains(logs.String(), "stream cut off") {
		t.Errorf("the cut stream was not logged:\n%s", logs.String())
	}
}

// The writer refuses writes once the handler has returned: a leaked
// writer cannot add bytes after the end mark.
func TestStreamWriteAfterReturn(t *testing.T) {
	path := sockPath(t)
	s := start(t, path)
	leaked := make(chan io.Writer, 1)
	s.HandleStream("leak", func(_ context.Context, _ json.RawMessage, w io.Writer) error {
		leaked <- w
		_, err := w.Write([]byte("ok"))
		return err
	})
	var out bytes.Buffer
	if err := CallStream(context.Background(), path, "leak", nil, &out); err != nil || out.String() != "ok" {
		t.Fatalf("%q %v", out.String(), err)
	}
	if n, err := (<-leaked).Write([]byte("late")); err == nil || n != 0 {
		t.Fatalf("a write after return: %d, %v", n, err)
	}
}

// bufConn is a deadlineWriter over a buffer, for frame tests.
type bufConn struct{ bytes.Buffer }

func (*bufConn) SetWriteDeadline(time.Time) error { return nil }

// encodeStream frames chunks as the server does, with an end mark.
func encodeStream(chunks [][]byte) []byte {
	var c bufConn
	fw := &frameWriter{c: &c, timeout: time.Second}
	for _, p := range chunks {
		fw.Write(p)
	}
	fw.finish()
	fw.end()
	return c.Bytes()
}

// Every proper prefix of a stream is an error for the reader: truncation
// is detected wherever it happens. The whole stream reads back exactly.
func TestFramePrefixes(t *testing.T) {
	chunks := [][]byte{[]byte("a"), nil, bytes.Repeat([]byte("b"), 300), []byte("cd")}
	enc := encodeStream(chunks)
	want := bytes.Join(chunks, nil)
	for cut := 0; cut <= len(enc); cut++ {
		var out bytes.Buffer
		err := copyFrames(bufio.NewReader(bytes.NewReader(enc[:cut])), &out)
		if cut < len(enc) && err == nil {
			t.Fatalf("a stream cut at %d of %d bytes read as complete", cut, len(enc))
		}
		if cut == len(enc) && (err != nil || !bytes.Equal(out.Bytes(), want)) {
			t.Fatalf("the whole stream: %q, %v", out.Bytes(), err)
		}
	}
}
