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

type bundleItem struct {
	kind     bundle.Kind
	seq      uint64
	filename string
	content  string
}

func testInstanceKey(t testing.TB) *sign.PrivateKey {
	t.Helper()
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{9}, 32), sign.Instance)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeBundle writes a submissions bundle of items from one source
// (testSource(0) with the first byte only: a0 00…), encrypted to recipient,
// signed by testInstanceKey, to dir/bundle. Item i has ID testItemID(i+1).
func writeBundle(t *testing.T, dir, recipient string, items []bundleItem) string {
	t.Helper()
	var src [32]byte
	src[0] = 0xa0
	var tb []tbItem
	for i, it := range items {
		tb = append(tb, tbItem{id: testItemID(byte(i + 1)), src: src, kind: it.kind, seq: it.seq,
			filename: it.filename, mediaType: "text/plain", content: []byte(it.content)})
	}
	return writeFile(t, dir, "bundle", buildBundle(t, parseRecipient(t, recipient), tb, tbOpts{}))
}

func hasRawControl(s string) bool {
	for _, c := range s {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c >= 0x80 && c < 0xa0 || c == '\u202e' {
			return true
		}
	}
	return false
}

func TestOpenListShow(t *testing.T) {
	dir := t.TempDir()
	idPath := filepath.Join(dir, "id.age")
	e, _, _ := newEnv("pw", "pw")
	r := runEnv(t, e, "keygen", "--passphrase", "-o", idPath)
	checkOK(t, r)
	recipient := strings.TrimSpace(r.stdout)
	items := []bundleItem{
		{kind: bundle.Message, seq: 1, content: "hi\x1b]52;c;ZXZpbA==\x07\rgotcha\n"},
		{kind: bundle.File, seq: 2, filename: "../../etc/passwd", content: "root"},
		{kind: bundle.File, seq: 3, filename: "x\u202Etxt.exe\x1b[31m", content: "MZ"},
	}
	bpath := writeBundle(t, dir, recipient, items)
	vpath := filepath.Join(dir, "vault")
	key := testInstanceKey(t).Public().String()

	e, _, _ = newEnv("pw")
	r = runEnv(t, e, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bpath)
	checkOK(t, r)
	if n := strings.Count(r.stdout, "\n"); n != 3 || hasRawControl(r.stdout) || hasRawControl(r.stderr) {
		t.Errorf("open output: %q %q", r.stdout, r.stderr)
	}
	checkMode(t, vpath, 0o700)
	if _, err := os.Stat(filepath.Join(dir, "etc")); err == nil {
		t.Error("file written outside the vault")
	}

	// Again: nothing new.
	e, _, _ = newEnv("pw")
	r = runEnv(t, e, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bpath)
	checkOK(t, r)
	if r.stdout != "" || !strings.Contains(r.stderr, "0 items imported, 3 already") {
		t.Errorf("second open: %+v", r)
	}

	r = runCmd(t, "list", vpath)
	checkOK(t, r)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 4 || hasRawControl(r.stdout) ||
		lines[0] != "# source a000000000000000: 3 items; missing seq 0; reply recipient known; no reply sent" {
		t.Fatalf("list: %q", r.stdout)
	}
	lines = lines[1:]
	if !strings.Contains(lines[2], `\u202e`) || !strings.Contains(lines[2], `\x1b[31m`) {
		t.Errorf("list line not escaped as expected: %q", lines[2])
	}
	for _, l := range lines {
		id := strings.Split(l, "\t")[0]
		r := runCmd(t, "show", vpath, id)
		checkOK(t, r)
		if hasRawControl(r.stdout) {
			t.Errorf("show %s: raw control in %q", id, r.stdout)
		}
		if strings.Contains(l, "\tmessage\t") && !strings.Contains(r.stdout, `\x1b]52;c;ZXZpbA==\x07\rgotcha`) {
			t.Errorf("show message: %q", r.stdout)
		}
	}
	if r := runCmd(t, "show", vpath, strings.Repeat("0", 32)); r.code != 1 {
		t.Errorf("show missing item: %+v", r)
	}
}

func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	idPath := filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", idPath)
	checkOK(t, r)
	recipient := strings.TrimSpace(r.stdout)
	bpath := writeBundle(t, dir, recipient, []bundleItem{{kind: bundle.Message, seq: 1, content: "x"}})
	key := testInstanceKey(t).Public().String()
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{3}, 32), sign.Instance)

	// Wrong instance key: refused, no vault made.
	vpath := filepath.Join(dir, "vault")
	r = runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", other.Public().String(), bpath)
	if r.code != 1 || !strings.Contains(r.stderr, "untrusted") {
		t.Errorf("wrong key: %+v", r)
	}
	if _, err := os.Lstat(vpath); err == nil {
		t.Error("vault created for a refused bundle")
	}

	// A symlink at the vault path: refused.
	real := filepath.Join(dir, "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(dir, "link")
	os.Symlink(real, link)
	r = runCmd(t, "open", "-i", idPath, "-o", link, "--instance-key", key, bpath)
	if r.code != 1 || !strings.Contains(r.stderr, "symlink") {
		t.Errorf("symlink vault: %+v", r)
	}
	if ents, _ := os.ReadDir(real); len(ents) != 0 {
		t.Errorf("written through the symlink: %v", ents)
	}

	// A damaged bundle: error, nothing of the item kept.
	data, _ := os.ReadFile(bpath)
	data[len(data)-50] ^= 1
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, data, 0o600)
	r = runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bad)
	if r.code != 1 || !strings.Contains(r.stderr, "10000000000000000000000000000001") {
		t.Errorf("damaged: %+v", r)
	}
	if r := runCmd(t, "list", vpath); r.code != 0 || !strings.HasPrefix(r.stdout, "# source a000000000000000: 0 items;") ||
		strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("list after damaged: %+v", r)
	}

	// Wrong passphrase for an encrypted identity.
	encPath := filepath.Join(dir, "enc.age")
	e, _, _ := newEnv("right", "right")
	checkOK(t, runEnv(t, e, "keygen", "--passphrase", "-o", encPath))
	e, _, _ = newEnv("wrong")
	r = runEnv(t, e, "open", "-i", encPath, "-o", vpath, "--instance-key", key, bpath)
	if r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("wrong passphrase: %+v", r)
	}

	// Not this identity's items: warned, exit 0.
	other2 := filepath.Join(dir, "other.txt")
	checkOK(t, runCmd(t, "keygen", "-o", other2))
	r = runCmd(t, "open", "-i", other2, "-o", vpath, "--instance-key", key, bpath)
	if r.code != 0 || !strings.Contains(r.stderr, "cannot decrypt") || r.stdout != "" {
		t.Errorf("other identity: %+v", r)
	}

	// Usage errors: exit 2, nothing created.
	for _, args := range [][]string{
		{"open"},
		{"open", "-i", idPath, "--instance-key", key, bpath},
		{"open", "-o", vpath, "--instance-key", key, bpath},
		{"open", "-i", idPath, "-o", vpath, "--instance-key", key},
		{"list"},
		{"list", vpath, "extra"},
		{"show", vpath},
	} {
		if r := runCmd(t, args...); r.code != 2 || r.stdout != "" {
			t.Errorf("%q: %+v", args, r)
		}
	}
	for _, args := range [][]string{{"open", "-h"}, {"list", "-h"}, {"show", "-h"}} {
		if r := runCmd(t, args...); r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if r := runCmd(t, "list", filepath.Join(dir, "missing")); r.code != 1 {
		t.Errorf("list missing vault: %+v", r)
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing")); err == nil {
		t.Error("list created a vault")
	}
}
