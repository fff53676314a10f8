package main

// Hostile bundles at the command level (ATTACKS.md, "The offline client").
// Which test covers which class is listed in TestHostileClassesCovered's
// comment below.

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sandyq/client/bundle"
	"sandyq/crypto/sign"
)

// hostileSetup makes an identity and a bundle of three items from one
// source: a message, a 200 KiB file (several age chunks) and a message.
func hostileSetup(t *testing.T) (dir, idPath string, b []byte, items []tbItem) {
	t.Helper()
	dir = t.TempDir()
	idPath = filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", idPath)
	checkOK(t, r)
	big := bytes.Repeat([]byte("secret plaintext "), 200<<10/17)
	items = []tbItem{
		{id: testItemID(1), src: testSource(1), kind: bundle.Message, seq: 0, content: []byte("first message")},
		{id: testItemID(2), src: testSource(1), kind: bundle.File, seq: 1, filename: "scan.pdf", content: big},
		{id: testItemID(3), src: testSource(1), kind: bundle.Message, seq: 2, content: []byte("third message")},
	}
	return dir, idPath, buildBundle(t, parseRecipient(t, r.stdout), items, tbOpts{}), items
}

// layout returns the offsets of a bundle's manifest and items.
func layout(t *testing.T, b []byte) (manifestEnd int, itemStart, itemEnd []int) {
	t.Helper()
	br, err := bundle.NewReader(bytes.NewReader(b), bundle.Submissions, bundle.TrustKeys(testInstanceKey(t).Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	off := bundle.HeaderSize + int(binary.BigEndian.Uint64(b[52:60]))
	manifestEnd = off
	for _, it := range br.Manifest().Items {
		itemStart = append(itemStart, off)
		off += int(it.Size)
		itemEnd = append(itemEnd, off)
	}
	if off != len(b) {
		t.Fatalf("layout: %d != %d", off, len(b))
	}
	return manifestEnd, itemStart, itemEnd
}

// itemPaths are the vault paths of test items imported from hostileSetup's
// bundle: content and record.
func itemPaths(n int) []string {
	src := hex.EncodeToString(func() []byte { s := testSource(1); return s[:] }())
	id := testItemID(byte(n))
	rec := src + "/.meta/" + hex.EncodeToString(id[:]) + ".json"
	switch n {
	case 1:
		return []string{src + "/msg-0.txt", rec}
	case 2:
		return []string{src + "/1-scan.pdf", rec}
	default:
		return []string{src + "/msg-2.txt", rec}
	}
}

// TestDamagedTransfer damages a bundle in every part and checks that open
// fails and leaves in the vault exactly the items before the damage (whose
// bytes were checked): no temporary file, no partial plaintext, no record.
func TestDamagedTransfer(t *testing.T) {
	dir, idPath, b, _ := hostileSetup(t)
	mEnd, start, end := layout(t, b)
	key := testInstanceKey(t).Public().String()
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 0x01; return b }
	}
	cut := func(at int) func([]byte) []byte { return func(b []byte) []byte { return b[:at] } }
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
		kept   int // items kept; -1: refused before the vault is made
	}{
		{"magic", flip(3), -1},
		{"type", flip(16), -1},
		{"signer", flip(30), -1},
		{"manifest length", flip(59), -1},
		{"signature", flip(100), -1},
		{"manifest", flip(mEnd - 10), -1},
		{"cut in the header", cut(60), -1},
		{"cut in the manifest", cut(mEnd - 1), -1},
		{"item 1 age header", flip(start[0] + 30), 0},
		{"item 1 last byte", flip(end[0] - 1), 0},
		{"item 2 first chunk", flip(start[1] + 2000), 1},
		{"item 2 middle chunk", flip(start[1] + 100_000), 1},
		{"item 2 last byte", flip(end[1] - 1), 1},
		{"item 3", flip(start[2] + 300), 2},
		{"cut before item 1", cut(mEnd), 0},
		{"cut in item 2", cut(start[1] + 150_000), 1},
		{"cut one byte short", cut(len(b) - 1), 2},
		{"a byte appended", func(b []byte) []byte { return append(b, 0) }, 3},
		{"item 1 and 2 swapped", func(b []byte) []byte {
			return append(append(append(append([]byte{}, b[:start[0]]...), b[start[1]:end[1]]...), b[start[0]:end[0]]...), b[end[1]:]...)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, t.TempDir(), "bad.bundle", tc.damage(append([]byte{}, b...)))
			vpath := filepath.Join(dir, "vault-"+strings.ReplaceAll(tc.name, " ", "-"))
			r := runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bad)
			if r.code != 1 || !strings.HasPrefix(r.stderr[strings.Index(r.stderr, "sandyq-client: error"):], "sandyq-client: error: ") {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			t.Log(strings.TrimSpace(r.stderr))
			if hasRawControl(r.stderr) || strings.Contains(r.stderr, "scan.pdf") || strings.Contains(r.stderr, "secret") {
				t.Errorf("stderr shows content:\n%s", r.stderr)
			}
			if tc.kept < 0 {
				if _, err := os.Lstat(vpath); err == nil {
					t.Error("vault created for a refused bundle")
				}
				return
			}
			if tc.kept < 3 && !strings.Contains(r.stderr, hex.EncodeToString(func() []byte { i := testItemID(byte(tc.kept + 1)); return i[:] }())) &&
				!strings.Contains(r.stderr, "truncated") {
				t.Errorf("the error names neither the item nor truncation:\n%s", r.stderr)
			}
			want := append([]string{".sandyq", ".sandyq/instance.pub"}, sourcePaths(testSource(1))...)
			for i := 1; i <= tc.kept; i++ {
				want = append(want, itemPaths(i)...)
			}
			checkVaultHolds(t, vpath, want...)
		})
	}
}

// resign returns b with its manifest replaced by m, signed again with the
// test instance key: a hostile server holding the key.
func resign(t *testing.T, b []byte, m []byte) []byte {
	t.Helper()
	n := int(binary.BigEndian.Uint64(b[52:60]))
	hdr := append([]byte{}, b[:60]...)
	binary.BigEndian.PutUint64(hdr[52:60], uint64(len(m)))
	msg := append(append([]byte{}, hdr...), m...)
	sig := testInstanceKey(t).Sign("sandyq-bundle-v1-submissions", msg)
	out := append(append(hdr, sig...), m...)
	return append(out, b[bundle.HeaderSize+n:]...)
}

// TestStrictManifest: a signed manifest that is not the strict canonical
// JSON of the format is refused before anything is written.
func TestStrictManifest(t *testing.T) {
	dir, idPath, b, _ := hostileSetup(t)
	n := int(binary.BigEndian.Uint64(b[52:60]))
	m := string(b[bundle.HeaderSize : bundle.HeaderSize+n])
	key := testInstanceKey(t).Public().String()
	// Sanity: re-signing the manifest unchanged gives the same bundle.
	if !bytes.Equal(resign(t, b, []byte(m)), b) {
		t.Fatal("resign does not reproduce the bundle")
	}
	for _, tc := range []struct{ name, manifest string }{
		{"duplicate key", strings.Replace(m, `{"version":1,`, `{"version":1,"version":1,`, 1)},
		{"duplicate key escaped", strings.Replace(m, `{"version":1,`, `{"version":1,"versio\u006e":1,`, 1)},
		{"unknown field", strings.Replace(m, `{"version":1,`, `{"version":1,"x":1,`, 1)},
		{"trailing garbage", m + "x"},
		{"trailing object", m + "{}"},
		{"white space", strings.Replace(m, `,"type"`, `, "type"`, 1)},
		{"invalid UTF-8", strings.Replace(m, `"submissions"`, "\"submissions\xff\"", 1)},
		{"null", strings.Replace(m, `"after":0`, `"after":null`, 1)},
		{"case-variant key", strings.Replace(m, `"version"`, `"Version"`, 1)},
		{"negative size", strings.Replace(m, `"size":`, `"size":-`, 1)},
		{"huge total size", strings.Replace(m, `"size":`, `"size":9999999999`, 1)},
		{"float", strings.Replace(m, `"seq":0`, `"seq":0.0`, 1)},
		{"escape in a name", strings.Replace(m, `"submissions"`, `"submissions\u001b[2J"`, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.manifest == m {
				t.Fatal("manifest unchanged")
			}
			bad := writeFile(t, t.TempDir(), "bad.bundle", resign(t, b, []byte(tc.manifest)))
			vpath := filepath.Join(dir, "v-"+strings.ReplaceAll(tc.name, " ", "-"))
			r := runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bad)
			if r.code != 1 || !strings.Contains(r.stderr, "manifest") && !strings.Contains(r.stderr, "size limit") {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			t.Log(strings.TrimSpace(r.stderr))
			if hasRawControl(r.stderr) {
				t.Errorf("raw control in stderr: %q", r.stderr)
			}
			if _, err := os.Lstat(vpath); err == nil {
				t.Error("vault created")
			}
		})
	}
}

// TestHugeDeclarations: lengths and counts that would make a reader
// allocate or wait without bound are refused from the header or manifest.
func TestHugeDeclarations(t *testing.T) {
	dir, idPath, b, _ := hostileSetup(t)
	key := testInstanceKey(t).Public().String()

	// A header declaring a manifest over 16 MiB, in a short file.
	huge := append([]byte{}, b[:bundle.HeaderSize]...)
	binary.BigEndian.PutUint64(huge[52:60], bundle.MaxManifestSize+1)
	// A header declaring the largest manifest, then nothing.
	short := append([]byte{}, b[:bundle.HeaderSize]...)
	binary.BigEndian.PutUint64(short[52:60], bundle.MaxManifestSize)
	for name, data := range map[string][]byte{"manifest over 16 MiB": huge, "16 MiB manifest missing": short, "empty file": nil, "not a bundle": []byte("PK\x03\x04zip bomb")} {
		bad := writeFile(t, t.TempDir(), "bad.bundle", data)
		vpath := filepath.Join(dir, "v")
		r := runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bad)
		if r.code != 1 {
			t.Errorf("%s: %+v", name, r)
		}
		t.Logf("%s: %s", name, strings.TrimSpace(r.stderr))
		if _, err := os.Lstat(vpath); err == nil {
			t.Errorf("%s: vault created", name)
		}
	}
}

// TestHostileSequences: sequence numbers a hostile server chose (huge,
// many gaps) are listed in bounded, plain form.
func TestHostileSequences(t *testing.T) {
	dir := t.TempDir()
	idPath := filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", idPath)
	checkOK(t, r)
	var items []tbItem
	for i := range 30 {
		seq := uint64(2 * i)
		if i == 29 {
			seq = 1<<64 - 1
		}
		items = append(items, tbItem{id: testItemID(byte(i + 1)), src: testSource(1), kind: bundle.Message, seq: seq, content: []byte(fmt.Sprint(i))})
	}
	bp := writeFile(t, dir, "b", buildBundle(t, parseRecipient(t, r.stdout), items, tbOpts{}))
	vpath := filepath.Join(dir, "vault")
	checkOK(t, runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", testInstanceKey(t).Public().String(), bp))
	r = runCmd(t, "list", vpath)
	checkOK(t, r)
	first := strings.SplitN(r.stdout, "\n", 2)[0]
	want := "# source a001000000000000: 30 items; missing seq 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 and 19 more ranges; reply recipient known; no reply sent"
	if first != want {
		t.Errorf("summary:\n%s\nwant:\n%s", first, want)
	}
}

// TestHostileSignerKinds: a bundle signed with an access key (a reply
// bundle presented as submissions) and one whose signer is a key of
// another kind are refused.
func TestHostileSignerKinds(t *testing.T) {
	dir, idPath, b, items := hostileSetup(t)
	ak, _ := sign.NewPrivateKey(bytes.Repeat([]byte{9}, 32), sign.Access)
	r := runCmd(t, "keygen", "-o", filepath.Join(dir, "id2"))
	checkOK(t, r)
	_ = items
	// A reply bundle: the type byte says replies.
	rb := append([]byte{}, b...)
	rb[16] = 2
	copy(rb[20:52], ak.Public().Bytes())
	msg := append(append([]byte{}, rb[:60]...), rb[bundle.HeaderSize:bundle.HeaderSize+int(binary.BigEndian.Uint64(rb[52:60]))]...)
	copy(rb[60:124], ak.Sign("sandyq-bundle-v1-replies", msg))
	bad := writeFile(t, dir, "reply.bundle", rb)
	vpath := filepath.Join(dir, "vault")
	r = runCmd(t, "open", "-i", idPath, "-o", vpath, "--trust-on-first-use", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "wrong bundle type") {
		t.Errorf("reply bundle as submissions: %+v", r)
	}
	if _, err := os.Lstat(vpath); err == nil {
		t.Error("vault created")
	}
}

// TestHostileReplyRecipients: a bundle that gives a source an invalid reply
// recipient is refused before anything is written; one that changes it is
// imported with a warning.
func TestHostileReplyRecipients(t *testing.T) {
	dir := t.TempDir()
	idPath := filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", idPath)
	checkOK(t, r)
	rcpt := parseRecipient(t, r.stdout)
	key := testInstanceKey(t).Public().String()
	src := testSource(1)
	item := func(n byte) []tbItem {
		return []tbItem{{id: testItemID(n), src: src, kind: bundle.Message, seq: uint64(n), content: []byte("m")}}
	}
	vpath := filepath.Join(dir, "vault")

	bad := writeFile(t, dir, "bad", buildBundle(t, rcpt, item(1), tbOpts{recipients: map[[32]byte]string{src: "age1qqqqqqqqqqqqqqqq"}}))
	r = runCmd(t, "open", "-i", idPath, "-o", vpath, "--instance-key", key, bad)
	if r.code != 1 || !strings.Contains(r.stderr, "invalid reply recipient") || !strings.Contains(r.stderr, "a0010000…") ||
		strings.Contains(r.stderr, "a00100000") || strings.Contains(r.stderr, "age1qqqq") || r.stdout != "" {
		t.Fatalf("invalid recipient: %+v", r)
	}
	checkVaultHolds(t, vpath, ".sandyq", ".sandyq/instance.pub")

	first := writeFile(t, dir, "first", buildBundle(t, rcpt, item(1), tbOpts{upTo: 5}))
	r = runCmd(t, "open", "-i", idPath, "-o", vpath, first)
	checkOK(t, r)
	if strings.Contains(r.stderr, "changes its reply recipient") {
		t.Errorf("warning on first sight: %s", r.stderr)
	}
	other := testReplyRecipient(t, testSource(9))
	second := writeFile(t, dir, "second", buildBundle(t, rcpt, item(2), tbOpts{upTo: 9, recipients: map[[32]byte]string{src: other}}))
	r = runCmd(t, "open", "-i", idPath, "-o", vpath, second)
	checkOK(t, r)
	if !strings.Contains(r.stderr, "warning: source a001000000000000: the bundle changes its reply recipient") {
		t.Errorf("no warning for a changed recipient:\n%s", r.stderr)
	}
	data := mustRead(t, filepath.Join(vpath, hex.EncodeToString(src[:]), ".meta", "source.json"))
	if !bytes.Contains(data, []byte(other)) {
		t.Error("the newer recipient was not recorded")
	}
}
