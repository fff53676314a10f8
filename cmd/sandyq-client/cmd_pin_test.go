package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sandyq/client/bundle"
	"sandyq/crypto/sign"
)

// pinSetup makes an identity and two bundles: one signed by
// testInstanceKey, one by another server's key.
func pinSetup(t *testing.T) (dir, idPath, good, evil string) {
	t.Helper()
	dir = t.TempDir()
	idPath = filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", idPath)
	checkOK(t, r)
	rcpt := parseRecipient(t, r.stdout)
	items := []tbItem{{id: testItemID(1), src: testSource(1), kind: bundle.Message, seq: 0, content: []byte("tip")}}
	good = writeFile(t, dir, "good.bundle", buildBundle(t, rcpt, items, tbOpts{}))
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{3}, 32), sign.Instance)
	evil = writeFile(t, dir, "evil.bundle", buildBundle(t, rcpt, items, tbOpts{key: other}))
	return dir, idPath, good, evil
}

// runStdin runs a command with stdin, a terminal or not.
func runStdin(t *testing.T, stdin string, terminal bool, args ...string) result {
	t.Helper()
	e, _, _ := newEnv()
	e.stdin = strings.NewReader(stdin)
	e.stdinTerminal = terminal
	return runEnv(t, e, args...)
}

func pinOf(t *testing.T, vpath string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vpath, ".sandyq", "instance.pub"))
	if err != nil {
		return ""
	}
	return string(b)
}

func TestFirstUseConfirmed(t *testing.T) {
	dir, idPath, good, evil := pinSetup(t)
	vpath := filepath.Join(dir, "vault")
	key := testInstanceKey(t).Public()

	r := runStdin(t, "yes\n", true, "open", "-i", idPath, "-o", vpath, good)
	checkOK(t, r)
	if !strings.Contains(r.stderr, key.String()) || !strings.Contains(r.stderr, key.Fingerprint()) || !strings.Contains(r.stderr, "[y/N]") {
		t.Errorf("the key was not shown in full with its fingerprint:\n%s", r.stderr)
	}
	if pinOf(t, vpath) != key.String()+"\n" {
		t.Fatalf("pin %q", pinOf(t, vpath))
	}
	checkMode(t, filepath.Join(vpath, ".sandyq", "instance.pub"), 0o600)
	if n := strings.Count(r.stdout, "\n"); n != 1 {
		t.Errorf("imported: %q", r.stdout)
	}

	// Afterwards: no question, no flag needed.
	r = runStdin(t, "", false, "open", "-i", idPath, "-o", vpath, good)
	checkOK(t, r)
	if strings.Contains(r.stderr, "[y/N]") {
		t.Errorf("asked again:\n%s", r.stderr)
	}
	// Another server's bundle is refused, naming both keys.
	r = runStdin(t, "yes\n", true, "open", "-i", idPath, "-o", vpath, evil)
	if r.code != 1 || !strings.Contains(r.stderr, "pinned") || !strings.Contains(r.stderr, key.String()) ||
		!strings.Contains(r.stderr, ".sandyq/instance.pub") || strings.Contains(r.stderr, "[y/N]") {
		t.Errorf("other signer: %+v", r)
	}
	if pinOf(t, vpath) != key.String()+"\n" {
		t.Error("the pin changed")
	}
}

func TestFirstUseRefused(t *testing.T) {
	dir, idPath, good, _ := pinSetup(t)
	for _, tc := range []struct {
		name     string
		stdin    string
		terminal bool
		want     string
	}{
		{"answered no", "n\n", true, "not confirmed"},
		{"answered nothing", "", true, "not confirmed"},
		{"answered something else", "sure\n", true, "not confirmed"},
		{"not a terminal", "yes\n", false, "--instance-key"},
		{"long answer", strings.Repeat("y", 5000), true, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vpath := filepath.Join(dir, "vault-"+strings.ReplaceAll(tc.name, " ", "-"))
			r := runStdin(t, tc.stdin, tc.terminal, "open", "-i", idPath, "-o", vpath, good)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("%+v", r)
			}
			if _, err := os.Lstat(vpath); err == nil {
				t.Error("vault created for a refused key")
			}
		})
	}
	// The same with an existing (empty) vault: no pin, no item.
	vpath := filepath.Join(dir, "existing")
	os.Mkdir(vpath, 0o700)
	r := runStdin(t, "no\n", true, "open", "-i", idPath, "-o", vpath, good)
	if r.code != 1 {
		t.Fatalf("%+v", r)
	}
	checkVaultHolds(t, vpath, ".")
}

func TestTrustOnFirstUseFlag(t *testing.T) {
	dir, idPath, good, _ := pinSetup(t)
	vpath := filepath.Join(dir, "vault")
	key := testInstanceKey(t).Public()
	r := runStdin(t, "", false, "open", "--trust-on-first-use", "-i", idPath, "-o", vpath, good)
	checkOK(t, r)
	if !strings.Contains(r.stderr, key.String()) || !strings.Contains(r.stderr, "warning: pinning it without asking") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if pinOf(t, vpath) != key.String()+"\n" {
		t.Fatal("not pinned")
	}
}

func TestInstanceKeyFlag(t *testing.T) {
	dir, idPath, good, evil := pinSetup(t)
	key := testInstanceKey(t).Public()
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{3}, 32), sign.Instance)

	// The key itself: pinned on first use.
	v1 := filepath.Join(dir, "v1")
	r := runCmd(t, "open", "-i", idPath, "-o", v1, "--instance-key", key.String(), good)
	checkOK(t, r)
	if pinOf(t, v1) != key.String()+"\n" || !strings.Contains(r.stderr, "pinned the instance key") {
		t.Fatalf("not pinned: %+v", r)
	}
	// The same key again: fine. Another: refused before reading the bundle.
	checkOK(t, runCmd(t, "open", "-i", idPath, "-o", v1, "--instance-key", key.String(), good))
	r = runCmd(t, "open", "-i", idPath, "-o", v1, "--instance-key", other.Public().String(), evil)
	if r.code != 1 || !strings.Contains(r.stderr, "--instance-key") || !strings.Contains(r.stderr, key.String()) ||
		!strings.Contains(r.stderr, "remove .sandyq/instance.pub") || !strings.Contains(r.stderr, "admin") {
		t.Errorf("other key: %+v", r)
	}
	if pinOf(t, v1) != key.String()+"\n" {
		t.Error("the pin changed")
	}

	// A file holding the key.
	kf := writeFile(t, dir, "instance.pub", []byte("\n  "+key.String()+"\n"))
	v2 := filepath.Join(dir, "v2")
	checkOK(t, runCmd(t, "open", "-i", idPath, "-o", v2, "--instance-key", kf, good))
	if pinOf(t, v2) != key.String()+"\n" {
		t.Fatal("not pinned from a file")
	}

	// A key that did not sign the bundle: refused, nothing pinned.
	v3 := filepath.Join(dir, "v3")
	r = runCmd(t, "open", "-i", idPath, "-o", v3, "--instance-key", other.Public().String(), good)
	if r.code != 1 || !strings.Contains(r.stderr, key.Fingerprint()) {
		t.Errorf("wrong key: %+v", r)
	}
	if _, err := os.Lstat(v3); err == nil {
		t.Error("vault created")
	}

	// Bad values, never echoed.
	secret := other.String()
	bad := writeFile(t, dir, "bad.pub", []byte(secret+"\n"))
	for _, val := range []string{secret, bad, "sandyq-access1qqqq", filepath.Join(dir, "missing")} {
		r := runCmd(t, "open", "-i", idPath, "-o", filepath.Join(dir, "v4"), "--instance-key", val, good)
		if r.code == 0 || strings.Contains(r.stderr, secret) || strings.Contains(r.stderr, dir) {
			t.Errorf("%q: %+v", filepath.Base(val), r)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "v4")); err == nil {
		t.Error("vault created")
	}
}

func TestOpenHelpDocumentsPinning(t *testing.T) {
	r := runCmd(t, "open", "-h")
	for _, want := range []string{"--instance-key KEY|FILE", "--trust-on-first-use", ".sandyq/instance.pub", "fingerprint", "Examples:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("open -h does not mention %q", want)
		}
	}
}
