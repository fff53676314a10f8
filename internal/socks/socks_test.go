package socks

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fakeProxy accepts one SOCKS5 connection on a unix socket, checks the
// request names want, answers with code and, on success, echoes one line.
func fakeProxy(t *testing.T, want string, code byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		greet := make([]byte, 3)
		if _, err := io.ReadFull(c, greet); err != nil {
			return
		}
		c.Write([]byte{5, 0})
		head := make([]byte, 5)
		if _, err := io.ReadFull(c, head); err != nil {
			return
		}
		if head[3] != 3 {
			t.Errorf("address type %d, want 3 (domain name: never resolved locally)", head[3])
			return
		}
		rest := make([]byte, int(head[4])+2)
		if _, err := io.ReadFull(c, rest); err != nil {
			return
		}
		port := binary.BigEndian.Uint16(rest[len(rest)-2:])
		got := net.JoinHostPort(string(rest[:len(rest)-2]), strconv.Itoa(int(port)))
		if got != want {
			t.Errorf("proxy asked for %q, want %q", got, want)
		}
		c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
		if code == 0 {
			c.Write([]byte("hello\n"))
		}
	}()
	return path
}

func TestDialThroughUnixProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host := "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz2345.onion"
	path := fakeProxy(t, host+":80", 0)
	c, err := Dial(ctx, "unix", path, host+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 6)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello\n" {
		t.Fatalf("payload %q, %v", b, err)
	}
}

func TestDialRetryReturnsPermanentRefusal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	path := fakeProxy(t, "x.onion:80", OnionMissingAuth)
	_, err := DialRetry(ctx, "unix", path, "x.onion:80")
	var se *Error
	if !errors.As(err, &se) || se.Code != OnionMissingAuth {
		t.Fatalf("err = %v, want the F4 refusal", err)
	}
	if ctx.Err() != nil {
		t.Fatal("a permanent refusal was retried until the deadline")
	}
}

func TestTransient(t *testing.T) {
	for code, want := range map[byte]bool{
		OnionDescNotFound: true, OnionIntroFailed: true, OnionRendFailed: true, OnionIntroTimedOut: true,
		OnionMissingAuth: false, OnionWrongAuth: false, OnionBadAddress: false, OnionDescInvalid: false, 0x05: false,
	} {
		if got := (&Error{Code: code}).Transient(); got != want {
			t.Errorf("0x%02X: Transient() = %v, want %v", code, got, want)
		}
	}
}
