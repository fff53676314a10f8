package tortest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetworkOnion starts a network, publishes an onion service from an
// extra tor that joins it with TorrcLines, fetches a page through the
// network's client, and checks that Close leaves no tor behind. It logs
// the time from Start to the first successful fetch (run with -count=3 -v
// to measure).
func TestNetworkOnion(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	begin := time.Now()
	n, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()
	started := time.Since(begin)

	const body = "hello through a private tor network\n"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(l)
	defer srv.Close()

	// An extra tor, configured only with what TorrcLines gives plus its
	// own directory and the service: this is what sandyq serve does.
	dir := filepath.Join(n.Dir(), "service")
	lines := append(n.TorrcLines(),
		"DataDirectory "+dir,
		"Log notice file "+filepath.Join(dir, "notice.log"),
		"SocksPort 0",
		"HiddenServiceDir "+filepath.Join(dir, "hs"),
		"HiddenServicePort 80 "+l.Addr().String(),
	)
	svc, err := startTor(n.tor, "service", dir, lines)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop()

	var host string
	for host == "" {
		b, err := os.ReadFile(filepath.Join(dir, "hs", "hostname"))
		if err == nil {
			host = strings.TrimSpace(string(b))
			break
		}
		if svc.exited() {
			t.Fatal(svc.exitError())
		}
		select {
		case <-ctx.Done():
			t.Fatal("no hostname file:", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	code, got, err := n.Get(ctx, "http://"+host+"/")
	if err != nil {
		t.Fatal(err)
	}
	fetched := time.Since(begin)
	if code != http.StatusOK || string(got) != body {
		t.Fatalf("got %d %q, want 200 %q", code, got, body)
	}
	t.Logf("Start: %v; Start to first onion fetch: %v", started.Round(time.Millisecond), fetched.Round(time.Millisecond))

	pids := append(n.Pids(), svc.pid())
	if len(pids) != 3+3+1+1 {
		t.Errorf("%d tor processes, want 8", len(pids))
	}
	if _, err := svc.stop(); err != nil {
		t.Error(err)
	}
	closed = true
	if err := n.Close(); err != nil {
		t.Error(err)
	}
	if k := n.Killed(); len(k) > 0 {
		t.Logf("needed SIGKILL: %v", k)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("tor pid %d still exists after Close (kill 0: %v)", pid, err)
		}
	}
	if _, err := os.Stat(n.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network directory still there after Close: %v", err)
	}
}

func TestSOCKSErrorTransient(t *testing.T) {
	for _, tc := range []struct {
		code byte
		want bool
	}{
		{OnionDescNotFound, true},
		{OnionIntroFailed, true},
		{OnionRendFailed, true},
		{OnionIntroTimedOut, true},
		{OnionMissingAuth, false},
		{OnionWrongAuth, false},
		{OnionBadAddress, false},
		{OnionDescInvalid, false},
		{0x05, false},
	} {
		e := &SOCKSError{Code: tc.code}
		if got := e.Transient(); got != tc.want {
			t.Errorf("%v: Transient() = %v, want %v", e, got, tc.want)
		}
	}
}

func TestCountListed(t *testing.T) {
	c := "network-status-version 3 microdesc\nr auth0 AAAA 2026 127.0.0.1 1 0\nm x\nr relay0 BBBB\nr relay1 CCCC\n"
	if got := countListed(c, []string{"auth0", "relay0", "relay1", "relay2"}); got != 3 {
		t.Errorf("countListed = %d, want 3", got)
	}
}
