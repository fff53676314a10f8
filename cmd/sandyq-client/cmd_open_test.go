package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/envelope"
	"sandyq/crypto/sign"
)

type bundleItem struct {
	kind     bundle.Kind
	seq      uint64
	filename string
	content  string
}

func testInstanceKey(t *testing.T) *sign.PrivateKey {
	t.Helper()
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{9}, 32), sign.Instance)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeBundle writes a submissions bundle of items from one source,
// encrypted to recipient, signed by testInstanceKey, to dir/bundle.
func writeBundle(t *testing.T, dir, recipient string, items []bundleItem) string {
	t.Helper()
	rcpt, err := age.ParseHybridRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var src [32]byte
	src[0] = 0xa0
	m := &bundle.Manifest{Type: bundle.Submissions, After: 0, UpTo: uint64(len(items)),
		Sources: []bundle.Source{{ID: src, ReplyRecipient: "age1pq1testrecipientxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}}
	var blobs [][]byte
	for i, it := range items {
		var id [16]byte
		id[0], id[15] = 0x10, byte(i+1)
		h := &envelope.Header{ItemID: id, SourceID: src, Kind: envelope.Kind(it.kind), Sequence: it.seq}
		if it.kind == bundle.File {
			h.Filename, h.MediaType = it.filename, "text/plain"
		}
		var buf bytes.Buffer
		w, err := envelope.Seal(&buf, h, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(it.content))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, buf.Bytes())
		m.Items = append(m.Items, bundle.Item{ID: id, Source: src, Kind: it.kind, Seq: it.seq,
			Day: 20500, Size: int64(buf.Len()), SHA256: sha256.Sum256(buf.Bytes())})
	}
	var out bytes.Buffer
	w, err := bundle.NewWriter(&out, m, testInstanceKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if err := w.WriteItem(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "bundle")
	if err := os.WriteFile(p, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
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
	if len(lines) != 3 || hasRawControl(r.stdout) {
		t.Fatalf("list: %q", r.stdout)
	}
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
	if r := runCmd(t, "list", vpath); r.code != 0 || r.stdout != "" {
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
		{"open", "-i", idPath, "-o", vpath, bpath},
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
