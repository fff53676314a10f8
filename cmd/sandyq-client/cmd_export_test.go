package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sandyq/client/bundle"
)

// exportSetup opens a bundle with a message and several files into a vault.
// Item IDs differ in their first 8 digits: 11111111…, 22222222…, …
func exportSetup(t *testing.T) (dir, vpath string, png []byte) {
	t.Helper()
	dir = t.TempDir()
	idPath := filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", idPath)
	checkOK(t, r)
	png = taggedPNG(t)
	id := func(n byte) (x [16]byte) {
		x[0], x[1], x[2], x[3], x[15] = n*0x11, n*0x11, n*0x11, n*0x11, n
		return x
	}
	src := testSource(1)
	items := []tbItem{
		{id: id(1), src: src, kind: bundle.Message, seq: 0, content: []byte("meet me \x1b]8;;http://x\x07here\n")},
		{id: id(2), src: src, kind: bundle.File, seq: 1, filename: "IMG_0042.png", mediaType: "image/png", content: png},
		{id: id(3), src: src, kind: bundle.File, seq: 2, filename: "leak.pdf", mediaType: "application/pdf", content: []byte("%PDF-1.7\n/Author (Jane)\n")},
		{id: id(4), src: src, kind: bundle.File, seq: 3, filename: "broken.png", mediaType: "image/png", content: png[:len(png)-30]},
		{id: id(5), src: src, kind: bundle.File, seq: 4, filename: "../../../.bashrc\x1b[2J\u202egnp.exe", content: []byte("echo pwned\n")},
		{id: id(6), src: src, kind: bundle.File, seq: 5, filename: "IMG_0042.png", mediaType: "image/png", content: png},
	}
	b := writeFile(t, dir, "in.bundle", buildBundle(t, parseRecipient(t, r.stdout), items, tbOpts{}))
	vpath = filepath.Join(dir, "vault")
	checkOK(t, runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", testInstanceKey(t).Public().String(), b))
	return dir, vpath, png
}

func TestExport(t *testing.T) {
	dir, vpath, png := exportSetup(t)
	out := filepath.Join(dir, "exports", "today")

	// A message, by an 8-digit prefix.
	r := runCmd(t, "export", vpath, "11111111", "-o", out)
	checkOK(t, r)
	if strings.TrimSpace(r.stdout) != filepath.Join(out, "msg-0.txt") {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := mustRead(t, filepath.Join(out, "msg-0.txt")); string(got) != "meet me \x1b]8;;http://x\x07here\n" {
		t.Errorf("message %q", got)
	}
	checkMode(t, out, 0o700)
	checkMode(t, filepath.Join(out, "msg-0.txt"), 0o600)

	// A PNG, scrubbed.
	r = runCmd(t, "export", "--scrub", vpath, "22222222", "-o", out)
	checkOK(t, r)
	exported := strings.TrimSpace(r.stdout)
	if filepath.Base(exported) != "IMG_0042.png" {
		t.Errorf("stdout %q", r.stdout)
	}
	got := mustRead(t, exported)
	if bytes.Contains(got, []byte("AUTHOR-MARKER")) || len(got) >= len(png) {
		t.Error("metadata left in the scrubbed PNG")
	}
	if !strings.Contains(r.stderr, "removed: PNG text (tEXt") || !strings.Contains(r.stderr, "scrubbed (PNG)") || strings.Contains(r.stderr, "warning: not scrubbed") {
		t.Errorf("report:\n%s", r.stderr)
	}

	// The same name again: a new file, the first one kept.
	r = runCmd(t, "export", "--scrub", vpath, "66666666", "-o", out)
	checkOK(t, r)
	if filepath.Base(strings.TrimSpace(r.stdout)) != "IMG_0042 (2).png" {
		t.Errorf("second export: %q", r.stdout)
	}

	// A PDF cannot be scrubbed: exported as is, exit 0, a clear warning.
	r = runCmd(t, "export", "--scrub", vpath, "33333333", "-o", out)
	checkOK(t, r)
	if !strings.Contains(r.stderr, "sandyq-client: warning: not scrubbed: PDF is not supported; treat this file as carrying metadata\n") {
		t.Errorf("no warning:\n%s", r.stderr)
	}
	if got := mustRead(t, strings.TrimSpace(r.stdout)); !bytes.Contains(got, []byte("/Author (Jane)")) {
		t.Error("PDF changed")
	}

	// A damaged PNG: scrubbing fails, nothing is exported.
	before, _ := os.ReadDir(out)
	r = runCmd(t, "export", "--scrub", vpath, "44444444", "-o", out)
	if r.code != 1 || !strings.Contains(r.stderr, "scrubbing failed") || !strings.Contains(r.stderr, "nothing was exported") || r.stdout != "" {
		t.Errorf("damaged PNG: %+v", r)
	}
	if after, _ := os.ReadDir(out); len(after) != len(before) {
		t.Errorf("partial output left: %d → %d files", len(before), len(after))
	}

	// A hostile name: made safe, inside DIR, printed escaped.
	r = runCmd(t, "export", vpath, "55555555", "-o", out)
	checkOK(t, r)
	name := filepath.Base(strings.TrimSpace(r.stdout))
	if filepath.Dir(strings.TrimSpace(r.stdout)) != out || strings.HasPrefix(name, ".") ||
		strings.ContainsAny(name, "\x1b\u202e/") || hasRawControl(r.stdout+r.stderr) {
		t.Errorf("hostile name exported as %q", r.stdout)
	}
	for _, p := range []string{filepath.Join(dir, ".bashrc"), filepath.Join(dir, "exports", ".bashrc")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("written outside DIR: %s", p)
		}
	}

	// --scrub on a message: nothing to do, said so.
	r = runCmd(t, "export", "--scrub", vpath, "11111111", "-o", out)
	checkOK(t, r)
	if !strings.Contains(r.stderr, "no metadata to scrub") {
		t.Errorf("message --scrub: %q", r.stderr)
	}
}

func TestExportExistingOutput(t *testing.T) {
	dir, vpath, _ := exportSetup(t)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755) // an existing DIR is used as it is
	outside := writeFile(t, dir, "precious", []byte("keep"))
	os.Symlink(outside, filepath.Join(out, "IMG_0042.png"))
	os.Symlink(filepath.Join(dir, "created-through-link"), filepath.Join(out, "IMG_0042 (2).png"))
	r := runCmd(t, "export", vpath, "22222222", "-o", out)
	checkOK(t, r)
	if filepath.Base(strings.TrimSpace(r.stdout)) != "IMG_0042 (3).png" {
		t.Errorf("exported as %q", r.stdout)
	}
	if string(mustRead(t, outside)) != "keep" {
		t.Error("written through a symlink")
	}
	if _, err := os.Lstat(filepath.Join(dir, "created-through-link")); err == nil {
		t.Error("created through a dangling symlink")
	}
	checkMode(t, out, 0o755)
}

func TestExportRefusals(t *testing.T) {
	dir, vpath, _ := exportSetup(t)
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", vpath, "77777777", "-o", out}, 1, "not in the vault"},
		{[]string{"export", vpath, "1111111", "-o", out}, 1, "8 to 32 hex digits"},
		{[]string{"export", vpath, "../../etc/passwd", "-o", out}, 1, "not in the vault"},
		{[]string{"export", vpath, "11111111"}, 2, "missing -o DIR"},
		{[]string{"export", vpath, "-o", out}, 2, "VAULT and ITEM"},
		{[]string{"export", filepath.Join(dir, "novault"), "11111111", "-o", out}, 1, "does not exist"},
	} {
		r := runCmd(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%q: %+v", tc.args[1:], r)
		}
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("DIR created for a refused export")
	}

	// Two items sharing a prefix: ambiguous, with a hint.
	vdir := filepath.Join(vpath, "a001000000000000000000000000000000000000000000000000000000000001", ".meta")
	rec := mustRead(t, filepath.Join(vdir, "11111111000000000000000000000001.json"))
	twin := bytes.ReplaceAll(rec, []byte("11111111000000000000000000000001"), []byte("11111111ffffffffffffffffffffffff"))
	os.WriteFile(filepath.Join(vdir, "11111111ffffffffffffffffffffffff.json"), twin, 0o600)
	r := runCmd(t, "export", vpath, "11111111", "-o", out)
	if r.code != 1 || !strings.Contains(r.stderr, "more digits") {
		t.Errorf("ambiguous: %+v", r)
	}
	r = runCmd(t, "show", vpath, "11111111")
	if r.code != 1 || !strings.Contains(r.stderr, "more digits") {
		t.Errorf("show ambiguous: %+v", r)
	}
	checkOK(t, runCmd(t, "export", vpath, "111111110", "-o", out))
}

func TestNewCommandsUsage(t *testing.T) {
	for _, args := range [][]string{{"export", "-h"}, {"reply", "-h"}, {"list", "-h"}, {"show", "-h"}} {
		r := runCmd(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: sandyq-client "+args[0]) || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	r := runCmd(t, "-h")
	for _, want := range []string{"sandyq-client export [--scrub] VAULT ITEM -o DIR", "sandyq-client reply -i IDENTITY --vault VAULT --source SOURCE", "[--instance-key KEY|FILE]"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("usage does not show %q", want)
		}
	}
	for _, args := range [][]string{{"export"}, {"reply"}, {"export", "--bogus"}, {"reply", "--bogus"}} {
		if r := runCmd(t, args...); r.code != 2 || r.stdout != "" {
			t.Errorf("%q: %+v", args, r)
		}
	}
}
