package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

// signedSet writes a set of one new PQ identity signed by newsroom, valid
// from nb for a day, and returns its file and ID.
func signedSet(t *testing.T, work, name string, newsroom *sign.PrivateKey, nb time.Time) (string, string) {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	set, err := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, nb, nb.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, err := set.Sign(newsroom)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(work, name)
	os.WriteFile(p, b, 0o600)
	return p, set.IDString()
}

// TestAdminWhileServing runs the admin commands against a running server
// (through the control socket) and checks that bad input changes nothing.
func TestAdminWhileServing(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	_, newsroom := newsroomSetup(t, bin, dir, work)
	srv, _, _ := devServe(t, bin, dir)
	admin := func(args ...string) (string, string, int) {
		return sandyqRun(t, bin, append([]string{"admin", "-d", dir}, args...)...)
	}
	out, stderr, code := admin("status")
	if code != 0 || !strings.Contains(out, "server:          serving") || !regexp.MustCompile(`recipient set:   [0-9a-f]{32} in force`).MatchString(out) {
		t.Fatalf("status while serving: %d\n%s%s", code, out, stderr)
	}
	before, _, _ := admin("recipients", "show")

	// Refused, and nothing installed: a secret key, another newsroom's set,
	// garbage after a good set (all or none).
	other, _ := sign.Generate(rand.Reader, sign.Newsroom)
	otherSet, _ := signedSet(t, work, "other.txt", other, time.Now())
	good, goodID := signedSet(t, work, "good.txt", newsroom, time.Now().Add(-time.Minute))
	secret := filepath.Join(work, "secret.txt")
	os.WriteFile(secret, []byte(newsroom.String()+"\n"), 0o600)
	garbage := filepath.Join(work, "garbage.txt")
	os.WriteFile(garbage, []byte("not a set\n"), 0o600)
	for _, c := range []struct {
		files []string
		want  string
	}{
		{[]string{secret}, "secret key"},
		{[]string{otherSet}, `recipient set "` + otherSet + `"`},
		{[]string{good, garbage}, "nothing was installed"},
	} {
		_, stderr, code := admin(append([]string{"recipients", "install"}, c.files...)...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("install %v: exit %d, want 1 with %q:\n%s", c.files, code, c.want, stderr)
		}
		if strings.Contains(stderr, newsroom.String()) {
			t.Error("a secret key was echoed")
		}
	}
	if after, _, _ := admin("recipients", "show"); after != before {
		t.Fatalf("refused installs changed the sets:\n%s\nthen\n%s", before, after)
	}
	// A good set installed while serving is in force at once.
	if _, stderr, code := admin("recipients", "install", good); code != 0 {
		t.Fatalf("install: %s", stderr)
	}
	if out, _, _ := admin("status"); !strings.Contains(out, goodID+" in force") {
		t.Fatalf("after install:\n%s", out)
	}
	if _, stderr, code := admin("check"); code != 0 || !strings.Contains(stderr, "no problems found") {
		t.Fatalf("check: %s", stderr)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"retention", "set", "30d"}, 0, "after they arrived"},
		{[]string{"retention", "set", "-3"}, 2, "not a number of days"},
		{[]string{"retention", "set", "40000"}, 1, "36500"},
		{[]string{"onion", "rotate", "mail"}, 1, `no onion role "mail"`},
	} {
		_, stderr, code := admin(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("admin %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, stderr)
		}
	}
	if out, _, _ := admin("status"); !strings.Contains(out, "delete fetched items after 30 days") {
		t.Fatalf("retention not shown:\n%s", out)
	}
	// An onion rotation while serving (development mode: recorded now,
	// published by the next start under tor).
	show1, _, _ := admin("onion", "show")
	newAddr, stderr, code := admin("onion", "rotate", "--grace", "1h", "journalist")
	if code != 0 {
		t.Fatalf("rotate: %s", stderr)
	}
	show2, _, _ := admin("onion", "show")
	if !strings.Contains(show2, strings.TrimSpace(newAddr)) || !strings.Contains(show2, "(old, served until") ||
		strings.Count(show2, "\n") != strings.Count(show1, "\n")+1 {
		t.Fatalf("onion show after rotate:\n%s\nbefore:\n%s", show2, show1)
	}
	srv.stop(t)
	// Stopped: the same commands open the store directly.
	if out, _, code := admin("status"); code != 0 || !strings.Contains(out, "server:          stopped") {
		t.Fatalf("status stopped:\n%s", out)
	}
}
