package main

import (
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRun runs sandyq with a crash point set and checks that it died of
// SIGKILL there.
func crashRun(t *testing.T, bin, point string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = sandyqEnv(crashPointEnv + "=" + point)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s: want death by SIGKILL at the crash point, got %v\n%s", point, err, out)
	}
}

// TestRecipientsInstallKill9: a schedule of two sets, with the installing
// process killed with SIGKILL before and after the commit and at random
// moments: afterwards either neither set or both are installed, and check
// is clean.
func TestRecipientsInstallKill9(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	_, newsroom := newsroomSetup(t, bin, dir, work)
	now := time.Now()
	admin := func(args ...string) string {
		out, stderr, code := sandyqRun(t, bin, append([]string{"admin", "-d", dir}, args...)...)
		if code != 0 {
			t.Fatalf("admin %v: %s", args, stderr)
		}
		return out
	}
	countOf := func(ids ...string) int {
		out := admin("recipients", "show")
		n := 0
		for _, id := range ids {
			if strings.Contains(out, id) {
				n++
			}
		}
		return n
	}
	round := 0
	next := func() (string, string, string, string) {
		round++
		a, ida := signedSet(t, work, "a"+strconv.Itoa(round)+".txt", newsroom, now.Add(time.Duration(round)*24*time.Hour))
		b, idb := signedSet(t, work, "b"+strconv.Itoa(round)+".txt", newsroom, now.Add(time.Duration(round)*24*time.Hour+time.Hour))
		return a, ida, b, idb
	}
	a, ida, b, idb := next()
	crashRun(t, bin, "recipients-install:verified", "admin", "-d", dir, "recipients", "install", a, b)
	if n := countOf(ida, idb); n != 0 {
		t.Fatalf("killed before the commit: %d of the 2 sets installed, want 0", n)
	}
	crashRun(t, bin, "recipients-install:installed", "admin", "-d", dir, "recipients", "install", a, b)
	if n := countOf(ida, idb); n != 2 {
		t.Fatalf("killed after the commit: %d of the 2 sets installed, want 2", n)
	}
	// Random moments: real kill -9 from outside.
	for i := range 12 {
		a, ida, b, idb := next()
		cmd := exec.Command(bin, "admin", "-d", dir, "recipients", "install", a, b)
		cmd.Env = sandyqEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(mrand.IntN(40)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if n := countOf(ida, idb); n == 1 {
			t.Fatalf("kill %d: one set of the schedule installed without the other", i)
		}
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "check"); code != 0 {
		t.Fatalf("check after the kills: %s", stderr)
	}
}

// TestOnionRotateKill9: a rotation killed after making the new key but
// before committing leaves the old addresses in effect (the orphan key is
// removed later); killed after the commit, the new address is in effect
// and the old one is retiring.
func TestOnionRotateKill9(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	show := func() string {
		out, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "onion", "show")
		if code != 0 {
			t.Fatalf("onion show: %s", stderr)
		}
		return out
	}
	keyDirs := func() []string {
		ents, _ := os.ReadDir(filepath.Join(dir, "onion", "services"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	before := show()
	crashRun(t, bin, "onion-rotate:key-made", "admin", "-d", dir, "onion", "rotate", "--grace", "1h")
	if got := show(); got != before {
		t.Fatalf("killed before the commit, the addresses changed:\n%s\nwas\n%s", got, before)
	}
	if n := len(keyDirs()); n != 3 {
		t.Fatalf("want the orphan key next to the 2 live ones, got %v", keyDirs())
	}
	crashRun(t, bin, "onion-rotate:committed", "admin", "-d", dir, "onion", "rotate", "--grace", "1h")
	after := show()
	if !strings.Contains(after, "(old, served until") || strings.Count(after, "\n") != 3 {
		t.Fatalf("killed after the commit: want the new source address and the old one retiring:\n%s", after)
	}
	// The orphan of the first crash is gone (the second rotation tidied up
	// before starting); every listed address has its key.
	if names := keyDirs(); len(names) != 3 {
		t.Fatalf("key directories %v, want 3", names)
	}
	// And the next start serves exactly what the state says.
	srv, _, _ := devServe(t, bin, dir)
	srv.stop(t)
	if got := show(); got != after {
		t.Fatalf("a start changed the addresses:\n%s\nwas\n%s", got, after)
	}
}
