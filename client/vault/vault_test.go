package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/agekey"
	"sandyq/crypto/envelope"
	"sandyq/crypto/sign"
)

// replyRecipient returns a valid post-quantum reply recipient for source n.
func replyRecipient(t testing.TB, n byte) string {
	t.Helper()
	id, err := agekey.HybridFromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// bundleOpts changes what makeBundleOpts writes into the manifest.
type bundleOpts struct {
	upTo       uint64          // 0: 2 + number of items
	recipients map[byte]string // reply recipient per source; default replyRecipient
}

// testItem describes an item of a test bundle.
type testItem struct {
	kind     bundle.Kind
	source   byte // source number
	seq      uint64
	filename string
	content  []byte
	// sealSource, if not zero, is the source the envelope claims (an item
	// moved between sources).
	sealSource byte
	// recipient, if not nil, is who the item is encrypted to instead of
	// the test identity.
	recipient age.Recipient
}

func srcID(n byte) (id [32]byte) {
	id[0] = 0xa0
	id[1] = n
	id[31] = n
	return id
}

func itemID(n int) (id [16]byte) {
	id[0] = 0x10
	id[1] = byte(n)
	id[15] = byte(n)
	return id
}

func testKey(t testing.TB) *sign.PrivateKey {
	t.Helper()
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{7}, 32), sign.Instance)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// makeBundle returns the bytes of a submissions bundle of items, signed by
// testKey, encrypted to id. Item i gets ID itemID(i+1).
func makeBundle(t testing.TB, id *age.X25519Identity, items []testItem) []byte {
	t.Helper()
	return makeBundleOpts(t, id, items, bundleOpts{})
}

func makeBundleOpts(t testing.TB, id *age.X25519Identity, items []testItem, o bundleOpts) []byte {
	t.Helper()
	m := &bundle.Manifest{Type: bundle.Submissions, After: 1, UpTo: 2 + uint64(len(items))}
	if o.upTo != 0 {
		m.UpTo = o.upTo
	}
	var blobs [][]byte
	srcs := map[byte]bool{}
	for i, it := range items {
		srcs[it.source] = true
		h := &envelope.Header{
			ItemID:   itemID(i + 1),
			SourceID: srcID(it.source),
			Kind:     envelope.Kind(it.kind),
			Sequence: it.seq,
		}
		if it.sealSource != 0 {
			h.SourceID = srcID(it.sealSource)
		}
		if it.kind == bundle.File {
			h.Filename = it.filename
			h.MediaType = "application/octet-stream"
		}
		var rcpt age.Recipient = id.Recipient()
		if it.recipient != nil {
			rcpt = it.recipient
		}
		var buf bytes.Buffer
		w, err := envelope.Seal(&buf, h, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(it.content)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, buf.Bytes())
		m.Items = append(m.Items, bundle.Item{
			ID: itemID(i + 1), Source: srcID(it.source), Kind: it.kind, Seq: it.seq,
			Day: 20000 + uint32(i), Size: int64(buf.Len()), SHA256: sha256.Sum256(buf.Bytes()),
		})
	}
	var ss []byte
	for s := range srcs {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i] < ss[j] })
	for _, s := range ss {
		r, ok := o.recipients[s]
		if !ok {
			r = replyRecipient(t, s)
		}
		m.Sources = append(m.Sources, bundle.Source{ID: srcID(s), ReplyRecipient: r})
	}
	var out bytes.Buffer
	w, err := bundle.NewWriter(&out, m, testKey(t))
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
	return out.Bytes()
}

func reader(t testing.TB, b []byte) *bundle.Reader {
	t.Helper()
	r, err := bundle.NewReader(bytes.NewReader(b), bundle.Submissions, bundle.TrustKeys(testKey(t).Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newVault(t *testing.T) (*Vault, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vault")
	v, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, dir
}

// walk returns every path under dir (relative) with its mode, and fails on
// anything but regular files and directories.
func walk(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			t.Errorf("%q: mode %v", rel, fi.Mode())
		}
		out[rel] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var hostileNames = []string{"../../etc/passwd", "x\u202Etxt.exe", "\x1b[2J\x1b]0;pwned\x07evil.sh"}

func hostileItems() []testItem {
	return []testItem{
		{kind: bundle.Message, source: 1, seq: 1, content: []byte("hello\nworld\n")},
		{kind: bundle.File, source: 1, seq: 2, filename: hostileNames[0], content: []byte("root:x:0:0\n")},
		{kind: bundle.File, source: 1, seq: 3, filename: hostileNames[1], content: bytes.Repeat([]byte{0, 1, 2, 0xff}, 40000)},
		{kind: bundle.File, source: 2, seq: 1, filename: hostileNames[2], content: []byte("#!/bin/sh\n")},
	}
}

func TestRoundTrip(t *testing.T) {
	id := testIdentity(t)
	items := hostileItems()
	b := makeBundle(t, id, items)
	v, dir := newVault(t)
	rep, err := v.Import(reader(t, b), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Imported) != len(items) || len(rep.Skipped) != 0 || len(rep.Unopened) != 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, e := range rep.Imported {
		it := items[i]
		if e.ItemID != idHex(i+1) {
			t.Errorf("item %d: id %s", i, e.ItemID)
		}
		got, err := os.ReadFile(filepath.Join(dir, e.SourceID, e.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, it.content) {
			t.Errorf("item %d: content differs", i)
		}
		if e.Size != int64(len(it.content)) {
			t.Errorf("item %d: size %d", i, e.Size)
		}
		if strings.ContainsAny(e.Name, "/\\\x1b\u202e") || strings.HasPrefix(e.Name, ".") {
			t.Errorf("item %d: unsafe name %q", i, e.Name)
		}
		if it.kind == bundle.File {
			if string(e.OriginalFilenameBytes) != it.filename {
				t.Errorf("item %d: original %q", i, e.OriginalFilenameBytes)
			}
			if strings.ContainsAny(e.OriginalFilename, "\x1b\x07\u202e") {
				t.Errorf("item %d: unescaped original %q", i, e.OriginalFilename)
			}
		} else if e.Name != "msg-1.txt" {
			t.Errorf("message name %q", e.Name)
		}
	}
	for p, mode := range walk(t, dir) {
		if strings.Contains(p, tmpPrefix) {
			t.Errorf("temporary file left: %q", p)
		}
		want := fs.FileMode(0o600)
		if mode.IsDir() {
			want = 0o700
		}
		if mode.Perm() != want {
			t.Errorf("%q: mode %v, want %v", p, mode.Perm(), want)
		}
	}
	// Nothing escaped the vault.
	parent := filepath.Dir(dir)
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 {
		t.Errorf("files outside the vault: %v", ents)
	}

	list, err := v.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(items) {
		t.Fatalf("list: %d entries", len(list))
	}

	// Importing again adds nothing.
	before := walk(t, dir)
	rep, err = v.Import(reader(t, b), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Imported) != 0 || len(rep.Skipped) != len(items) {
		t.Fatalf("second import: %+v", rep)
	}
	if after := walk(t, dir); len(after) != len(before) {
		t.Errorf("second import changed the vault: %d → %d paths", len(before), len(after))
	}
	if list2, _ := v.List(); len(list2) != len(items) {
		t.Errorf("list after second import: %d", len(list2))
	}

	// A reopened vault sees the same.
	v2, err := OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if list2, _ := v2.List(); len(list2) != len(items) {
		t.Errorf("reopened list: %d", len(list2))
	}
}

func TestFlippedByte(t *testing.T) {
	id := testIdentity(t)
	items := []testItem{
		{kind: bundle.Message, source: 1, seq: 1, content: []byte("first")},
		{kind: bundle.File, source: 1, seq: 2, filename: "a.pdf", content: bytes.Repeat([]byte("secret "), 20000)},
	}
	b := makeBundle(t, id, items)
	// Flip a byte near the end of the bundle: inside the second item's
	// age payload, after some plaintext has streamed.
	b[len(b)-100] ^= 1
	v, dir := newVault(t)
	rep, err := v.Import(reader(t, b), []age.Identity{id})
	if err == nil {
		t.Fatal("import of a damaged bundle succeeded")
	}
	t.Log(err)
	bad := idHex(2)
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("error does not name item %s: %v", bad, err)
	}
	if len(rep.Imported) != 1 {
		t.Errorf("imported %d, want the first item only", len(rep.Imported))
	}
	for p := range walk(t, dir) {
		if strings.Contains(p, tmpPrefix) || strings.Contains(p, bad) || strings.Contains(p, "a.pdf") {
			t.Errorf("left behind: %q", p)
		}
	}
}

func TestFlippedByteHashOnly(t *testing.T) {
	// A flip in the last byte of the age file may be caught by age or by
	// the SHA-256; either way nothing is written.
	id := testIdentity(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.Message, source: 1, seq: 1, content: []byte("only")}})
	b[len(b)-1] ^= 0x80
	v, dir := newVault(t)
	_, err := v.Import(reader(t, b), []age.Identity{id})
	if err == nil || !strings.Contains(err.Error(), idHex(1)) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	onlyPaths(t, dir, sourcePaths(1))
}

// sourcePaths returns the paths that recording the reply recipients of the
// given sources creates, with ".".
func sourcePaths(srcs ...byte) []string {
	out := []string{"."}
	for _, n := range srcs {
		s := srcID(n)
		h := hex.EncodeToString(s[:])
		out = append(out, h, h+"/.meta", h+"/.meta/source.json")
	}
	return out
}

// onlyPaths fails unless the vault at dir holds exactly the paths given
// (relative, "." for the vault itself), and nothing else: no temporary
// file, no partial content, no record.
func onlyPaths(t *testing.T, dir string, want []string) {
	t.Helper()
	got := walk(t, dir)
	w := map[string]bool{}
	for _, p := range want {
		w[p] = true
		if _, ok := got[p]; !ok {
			t.Errorf("missing from the vault: %q", p)
		}
	}
	for p := range got {
		if !w[p] {
			t.Errorf("left in the vault: %q", p)
		}
	}
}

func TestMovedItem(t *testing.T) {
	id := testIdentity(t)
	b := makeBundle(t, id, []testItem{
		{kind: bundle.Message, source: 1, seq: 1, content: []byte("from source 2"), sealSource: 2},
	})
	v, dir := newVault(t)
	_, err := v.Import(reader(t, b), []age.Identity{id})
	if !errors.Is(err, envelope.ErrContextMismatch) {
		t.Fatalf("err = %v, want ErrContextMismatch", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), idHex(1)) {
		t.Errorf("error does not name the item: %v", err)
	}
	onlyPaths(t, dir, sourcePaths(1))
}

func TestUnopenedItem(t *testing.T) {
	id, other := testIdentity(t), testIdentity(t)
	b := makeBundle(t, id, []testItem{
		{kind: bundle.Message, source: 1, seq: 1, content: []byte("not for us"), recipient: other.Recipient()},
		{kind: bundle.Message, source: 1, seq: 2, content: []byte("for us")},
	})
	v, _ := newVault(t)
	rep, err := v.Import(reader(t, b), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unopened) != 1 || rep.Unopened[0] != idHex(1) || len(rep.Imported) != 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestOpenRefuses(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "real")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("symlink: %v", err)
	}
	dangling := filepath.Join(base, "dangling")
	os.Symlink(filepath.Join(base, "nowhere"), dangling)
	if _, err := Open(dangling); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("dangling symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "nowhere")); err == nil {
		t.Error("created through a dangling symlink")
	}
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o750)
	if _, err := Open(open); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("0750: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(file); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("file: %v", err)
	}
	if _, err := OpenExisting(filepath.Join(base, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	v, err := Open(filepath.Join(base, "new"))
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	fi, _ := os.Stat(filepath.Join(base, "new"))
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("new vault mode %v", fi.Mode().Perm())
	}
}

func TestSymlinkInsideVault(t *testing.T) {
	// A symlink planted where a source directory goes must not lead out.
	id := testIdentity(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.Message, source: 1, seq: 1, content: []byte("x")}})
	v, dir := newVault(t)
	outside := t.TempDir()
	src := srcID(1)
	if err := os.Symlink(outside, filepath.Join(dir, hex.EncodeToString(src[:]))); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Import(reader(t, b), []age.Identity{id}); err == nil {
		t.Error("import through a symlinked source directory succeeded")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written outside the vault: %v", ents)
	}
}

func TestShowEscapes(t *testing.T) {
	id := testIdentity(t)
	msg := "hi\x1b]52;c;ZXZpbA==\x07 there\rover\x1b[2J\r\nline2\u202e\n"
	b := makeBundle(t, id, []testItem{
		{kind: bundle.Message, source: 1, seq: 1, content: []byte(msg)},
		{kind: bundle.File, source: 1, seq: 2, filename: hostileNames[2], content: []byte("\x1b]52;c;x\x07")},
	})
	v, _ := newVault(t)
	rep, err := v.Import(reader(t, b), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Imported {
		var out bytes.Buffer
		if err := v.Show(e.ItemID, &out); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		for _, c := range s {
			if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c == '\u202e' {
				t.Errorf("%s: raw control %U in output %q", e.Kind, c, s)
			}
		}
		if e.Kind == "message" && !strings.Contains(s, `\x1b]52;c;ZXZpbA==\x07`) {
			t.Errorf("message not shown escaped: %q", s)
		}
		if e.Kind == "file" && strings.Contains(s, "52;c;x") {
			t.Errorf("file content shown: %q", s)
		}
	}
	if err := v.Show(strings.Repeat("ab", 16), &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing item: %v", err)
	}
	if err := v.Show("../../etc/passwd", &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("bad item id: %v", err)
	}
}

func idHex(n int) string {
	id := itemID(n)
	return hex.EncodeToString(id[:])
}
