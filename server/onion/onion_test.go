package onion

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sandyq/internal/tortest"
)

var torNet tortest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := torNet.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// startTor starts the package's tor on the private network, closed (and
// checked to be gone) at the end of the test.
func startTor(t *testing.T, ctx context.Context, n *tortest.Network, dataDir string) *Tor {
	t.Helper()
	tor, err := Start(ctx, Config{DataDir: dataDir, ExtraTorrc: n.TorrcLines(), Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeTor(t, tor) })
	return tor
}

func closeTor(t *testing.T, tor *Tor) {
	t.Helper()
	pid := tor.Pid()
	if err := tor.Close(); err != nil {
		t.Error(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("tor pid %d still exists after Close (kill 0: %v)", pid, err)
	}
}

// testLog sends tor's warnings to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		if strings.Contains(line, "[warn]") || strings.Contains(line, "[err]") {
			l.t.Log(strings.TrimSpace(line))
		}
	}
	return len(p), nil
}

// serve answers every request on s with body.
func serve(t *testing.T, s *Service, body string) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(s.Listener())
	t.Cleanup(func() { srv.Close() })
}

func fetch(t *testing.T, ctx context.Context, socks, addr, want string) {
	t.Helper()
	code, body, err := tortest.Get(ctx, socks, "http://"+addr+"/")
	if err != nil {
		t.Fatalf("fetching the service: %v", err)
	}
	if code != http.StatusOK || string(body) != want {
		t.Fatalf("got %d %q, want 200 %q", code, body, want)
	}
}

// TestPersistentAddress publishes a source-like service (PoW, intro rate
// limit, stream cap) and a second service at once, reaches both, restarts
// tor on the same data directory and gets the same address back.
func TestPersistentAddress(t *testing.T) {
	n := torNet.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()

	opts := ServiceOptions{Name: "source", PoW: true, IntroRate: 25, IntroBurst: 200, MaxStreams: 20}
	// The key made before tor ever ran (as sandyq init does) is the one
	// tor uses: the address is known in advance.
	pregenerated, err := GenerateKey(dataDir, "source", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tor := startTor(t, ctx, n, dataDir)
	begin := time.Now()
	src, err := tor.Publish(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if src.Addr() != pregenerated {
		t.Errorf("published at %s, but GenerateKey said %s", src.Addr(), pregenerated)
	}
	published := time.Since(begin)
	if !strings.HasPrefix(src.Listener().Addr().Network(), "unix") {
		t.Errorf("listener on %s, want a unix socket", src.Listener().Addr().Network())
	}
	serve(t, src, "source v1")
	other, err := tor.Publish(ctx, ServiceOptions{Name: "source-next", TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, other, "next")
	fetch(t, ctx, n.SocksAddr(), src.Addr(), "source v1")
	t.Logf("publish %v, publish to first fetch %v", published.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	fetch(t, ctx, n.SocksAddr(), other.Addr(), "next")

	// Tor accepted the DoS defenses.
	for key, want := range map[string]string{
		"HiddenServicePoWDefensesEnabled":       "1",
		"HiddenServiceEnableIntroDoSDefense":    "1",
		"HiddenServiceEnableIntroDoSRatePerSec": "25",
		"HiddenServiceMaxStreams":               "20",
	} {
		vals, err := tor.getConf(ctx, key)
		if err != nil {
			t.Fatalf("GETCONF %s: %v", key, err)
		}
		if !slices.Contains(vals, key+"="+want) {
			t.Errorf("GETCONF %s = %q, want %s among them", key, vals, want)
		}
	}
	key := filepath.Join(dataDir, "services", "source", "hs_ed25519_secret_key")
	if fi, err := os.Stat(key); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}

	// Rotation's last step: the retired service goes, its key with it.
	if err := tor.RemoveKeys("source-next"); !errors.Is(err, ErrPublished) {
		t.Errorf("RemoveKeys of a published service: %v, want ErrPublished", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tor.RemoveKeys("source-next"); err != nil {
		t.Fatal(err)
	}
	addr := src.Addr()
	closeTor(t, tor)

	tor2 := startTor(t, ctx, n, dataDir)
	src2, err := tor2.Publish(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if src2.Addr() != addr {
		t.Fatalf("address after restart %s, want %s", src2.Addr(), addr)
	}
	serve(t, src2, "source v2")
	// A fresh client: the network's client cached the old descriptor and
	// does not ask the same directories again for 15 minutes.
	fresh, err := n.StartClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	fetch(t, ctx, fresh.SocksAddr(), addr, "source v2")
}

// TestClientAuth publishes a journalist-like service with v3 client
// authorization, adds and revokes keys, and checks who gets in.
func TestClientAuth(t *testing.T) {
	n := torNet.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	alice, err := GenerateClientIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := GenerateClientIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tor := startTor(t, ctx, n, t.TempDir())
	if _, err := tor.Publish(ctx, ServiceOptions{Name: "journalist", ClientAuth: true}); !errors.Is(err, ErrNoClients) {
		t.Fatalf("Publish with no clients: %v, want ErrNoClients", err)
	}
	svc, err := tor.Publish(ctx, ServiceOptions{Name: "journalist", ClientAuth: true, Clients: []ClientKey{bob.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, svc, "journalist api")
	// Adding a key: Alice gets in.
	if err := svc.SetClientAuth(ctx, []ClientKey{bob.Public(), alice.Public()}); err != nil {
		t.Fatal(err)
	}
	aliceClient := authClient(t, ctx, n, svc.Addr(), alice)
	fetch(t, ctx, aliceClient.SocksAddr(), svc.Addr(), "journalist api")

	// No key: tor refuses with F4.
	_, _, err = tortest.Get(ctx, n.SocksAddr(), "http://"+svc.Addr()+"/")
	var se *tortest.SOCKSError
	if !errors.As(err, &se) || se.Code != tortest.OnionMissingAuth {
		t.Fatalf("fetch without a key: %v, want SOCKS 0xF4", err)
	}

	// Revoking Alice: a fresh client with her key is refused, Bob still
	// gets in.
	if err := svc.SetClientAuth(ctx, []ClientKey{bob.Public()}); err != nil {
		t.Fatal(err)
	}
	aliceAgain := authClient(t, ctx, n, svc.Addr(), alice)
	_, _, err = tortest.Get(ctx, aliceAgain.SocksAddr(), "http://"+svc.Addr()+"/")
	if !errors.As(err, &se) || (se.Code != tortest.OnionWrongAuth && se.Code != tortest.OnionMissingAuth) {
		t.Fatalf("fetch with a revoked key: %v, want SOCKS 0xF5 or 0xF4", err)
	}
	t.Logf("revoked key: %v", err)
	bobClient := authClient(t, ctx, n, svc.Addr(), bob)
	fetch(t, ctx, bobClient.SocksAddr(), svc.Addr(), "journalist api")
}

// authClient starts a client of the network that holds id's key for addr.
func authClient(t *testing.T, ctx context.Context, n *tortest.Network, addr string, id *ClientIdentity) *tortest.Client {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.auth_private"), []byte(id.AuthFileLine(addr)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := n.StartClient(ctx, "ClientOnionAuthDir "+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestParseClientKey(t *testing.T) {
	id, err := GenerateClientIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := id.Public()
	for _, tc := range []struct {
		in   string
		want error
	}{
		{k.String(), nil},
		{strings.ToLower(k.String()), nil},
		{"descriptor:x25519:" + k.String(), nil},
		{" " + k.String() + "\n", nil},
		{"", ErrBadClientKey},
		{k.String()[:51], ErrBadClientKey},
		{k.String() + "A", ErrBadClientKey},
		{strings.Repeat("1", 52), ErrBadClientKey},
		{"descriptor:x448:" + k.String(), ErrBadClientKey},
	} {
		got, err := ParseClientKey(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseClientKey(%q): %v, want %v", tc.in, err, tc.want)
			continue
		}
		if err == nil && got != k {
			t.Errorf("ParseClientKey(%q) = %v, want %v", tc.in, got, k)
		}
	}
	line := id.AuthFileLine("ABCDEF.onion")
	if !strings.HasPrefix(line, "abcdef:descriptor:x25519:") || len(line) != len("abcdef:descriptor:x25519:")+52 {
		t.Errorf("AuthFileLine = %q", line)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"source": true, "journalist-2": true, "a": true, strings.Repeat("a", 32): true,
		"": false, strings.Repeat("a", 33): false, "Source": false, "../x": false, "a b": false, "a.b": false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v, want %v", name, got, want)
		}
	}
}
