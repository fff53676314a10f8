package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sandyq/internal/tortest"
)

// TestOnionRotationOverTor rotates the source address of a running server
// on the private Tor network: the new address answers at once, the old one
// keeps answering during its grace period, both survive a restart, and a
// rotation with no grace retires the old address and deletes its key.
func TestOnionRotationOverTor(t *testing.T) {
	tortest.Require(t)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.1fs  %s", time.Since(begin).Seconds(), what) }
	n := torNet.Get(t)
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	tmp := filepath.Join(work, "tmp")
	os.Mkdir(tmp, 0o700)
	torrc := filepath.Join(work, "testnet.torrc")
	os.WriteFile(torrc, []byte(strings.Join(n.TorrcLines(), "\n")+"\n"), 0o600)
	runSandyq(t, bin, tmp, "init", "-d", dir)

	srv := startServe(t, bin, dir, torrc, tmp)
	old := srv.url
	warmUp(t, n.Get, old)
	step("serving at " + old)

	out := runSandyq(t, bin, tmp, "admin", "-d", dir, "onion", "rotate", "--grace", "1h")
	m := regexp.MustCompile(`(?m)^http://[a-z2-7]{56}\.onion/$`).Find(out)
	if m == nil || string(m) == old {
		t.Fatalf("rotate printed no new address:\n%s", out)
	}
	rotated := string(m)
	warmUp(t, n.Get, rotated)
	warmUp(t, n.Get, old)
	step("new address answers, old one too (grace)")

	srv.stop(t)
	srv2 := startServe(t, bin, dir, torrc, tmp)
	if srv2.url != rotated {
		t.Fatalf("after restart serve prints %s, want the rotated %s", srv2.url, rotated)
	}
	srv2.waitStderr(t, "also serving the old source address")
	c, err := n.StartClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	warmUp(t, c.Get, old)
	warmUp(t, c.Get, rotated)
	step("after a restart both are served")

	// No grace: the previous address is retired at once, its key deleted.
	runSandyq(t, bin, tmp, "admin", "-d", dir, "onion", "rotate", "--grace", "0s")
	show := string(runSandyq(t, bin, tmp, "admin", "-d", dir, "onion", "show"))
	if strings.Contains(show, strings.TrimSuffix(strings.TrimPrefix(rotated, "http://"), "/")) {
		t.Fatalf("the address rotated away without grace is still listed:\n%s", show)
	}
	if !strings.Contains(show, strings.TrimSuffix(strings.TrimPrefix(old, "http://"), "/")) {
		t.Fatalf("the first address lost its grace:\n%s", show)
	}
	// Key directories left: the first source key (in its grace), the
	// current one, and the journalist's.
	ents, _ := os.ReadDir(filepath.Join(dir, "onion", "services"))
	if len(ents) != 3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("key directories %v, want 3", names)
	}
	warmUp(t, c.Get, old)
	step("zero-grace rotation retired the previous address")
}
