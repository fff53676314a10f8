package rewrap

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/client/vault"
	"sandyq/crypto/agekey"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func key(t testing.TB, k sign.Kind, b byte) *sign.PrivateKey {
	t.Helper()
	p, err := sign.NewPrivateKey(bytes.Repeat([]byte{b}, 32), k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func identity(t testing.TB) *age.HybridIdentity {
	t.Helper()
	id, err := agekey.GenerateHybrid(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// signedSet returns a set of the identities' recipients, signed by the
// test newsroom key.
func signedSet(t testing.TB, ids ...*age.HybridIdentity) *recipients.Signed {
	t.Helper()
	var rs []string
	for _, id := range ids {
		rs = append(rs, id.Recipient().String())
	}
	set, err := recipients.NewSet(rand.Reader, rs, testNow, testNow.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	nk := key(t, sign.Newsroom, 7)
	raw, err := set.Sign(nk)
	if err != nil {
		t.Fatal(err)
	}
	s, err := recipients.Parse(raw, nk.Public())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type testItem struct {
	h       envelope.Header
	content []byte
}

// testVault imports items, encrypted to old, into a new vault, and
// returns it with its directory.
func testVault(t testing.TB, old *age.HybridIdentity, items []testItem) (*vault.Vault, string) {
	t.Helper()
	inst := key(t, sign.Instance, 1)
	m := &bundle.Manifest{Type: bundle.Submissions, UpTo: uint64(len(items))}
	var blobs [][]byte
	srcs := map[[32]byte]bool{}
	for _, it := range items {
		var buf bytes.Buffer
		w, err := envelope.Seal(&buf, &it.h, old.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(it.content)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, buf.Bytes())
		m.Items = append(m.Items, bundle.Item{ID: it.h.ItemID, Source: it.h.SourceID, Kind: bundle.Kind(it.h.Kind),
			Seq: it.h.Sequence, SetID: [16]byte{1}, Day: 20500, Size: int64(buf.Len()), SHA256: sha256.Sum256(buf.Bytes())})
		if !srcs[it.h.SourceID] {
			srcs[it.h.SourceID] = true
			m.Sources = append(m.Sources, bundle.Source{ID: it.h.SourceID, ReplyRecipient: old.Recipient().String()})
		}
	}
	var out bytes.Buffer
	w, err := bundle.NewWriter(&out, m, inst)
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
	dir := filepath.Join(t.TempDir(), "vault")
	v, err := vault.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	br, err := bundle.NewReader(&out, bundle.Submissions, bundle.TrustKeys(inst.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Import(br, []age.Identity{old})
	if err != nil || len(rep.Imported) != len(items) {
		t.Fatalf("import: %v", err)
	}
	return v, dir
}

// threeItems are a message, a file with an awkward name, and a large file
// (several envelope frames), all from source 0xa1… but the last.
func threeItems() []testItem {
	src1, src2 := [32]byte{0xa1, 1}, [32]byte{0xa2, 2}
	big := make([]byte, 300_000)
	rand.Read(big)
	return []testItem{
		{envelope.Header{ItemID: [16]byte{0x10, 1}, SourceID: src1, Kind: envelope.Message, Sequence: 0}, []byte("I have documents.")},
		{envelope.Header{ItemID: [16]byte{0x10, 2}, SourceID: src1, Kind: envelope.File, Sequence: 1,
			Filename: "../évidence\x1b[31m.pdf", MediaType: "application/pdf"}, []byte("%PDF-1.4 fake")},
		{envelope.Header{ItemID: [16]byte{0x10, 3}, SourceID: src2, Kind: envelope.File, Sequence: 7,
			Filename: "", MediaType: "application/octet-stream"}, big},
	}
}

// readRewrap reads a rewrap bundle signed by ak and decrypts every item
// with ids, returning the headers and contents by item ID.
func readRewrap(t *testing.T, data []byte, ak *sign.PrivateKey, ids ...age.Identity) (*bundle.Manifest, map[[16]byte]testItem) {
	t.Helper()
	br, err := bundle.NewReader(bytes.NewReader(data), bundle.Rewraps, bundle.TrustKeys(ak.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[[16]byte]testItem{}
	for {
		e, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := envelope.Open(item, ids...)
		if err != nil {
			t.Fatalf("item %x: %v", e.ID[:4], err)
		}
		c, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, item); err != nil {
			t.Fatal(err)
		}
		out[e.ID] = testItem{r.Header, c}
	}
	return br.Manifest(), out
}

func TestRoundTrip(t *testing.T) {
	old, newID := identity(t), identity(t)
	items := threeItems()
	v, _ := testVault(t, old, items)
	set := signedSet(t, newID)
	ak := key(t, sign.Access, 2)
	tmp := t.TempDir()
	b, err := New(v, set, []age.Identity{newID}, tmp)
	if err != nil {
		t.Fatal(err)
	}
	// By full ID, by prefix, in any order.
	for _, id := range []string{hex.EncodeToString(items[2].h.ItemID[:]), "10010000", "1002000000000000"} {
		if err := b.Add(id); err != nil {
			t.Fatalf("Add %s: %v", id, err)
		}
	}
	if err := b.Add("10010000"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("adding an item twice: %v", err)
	}
	var buf bytes.Buffer
	n, err := b.WriteBundle(&buf, ak)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteBundle: %d, %v", n, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temporary directory: %v", ents)
	}

	m, got := readRewrap(t, buf.Bytes(), ak, newID)
	if len(m.Rewraps) != 3 || len(got) != 3 {
		t.Fatalf("%d items in the bundle", len(m.Rewraps))
	}
	for i, e := range m.Rewraps {
		if e.SetID != set.ID {
			t.Errorf("item %d: set %x, want the new set", i, e.SetID)
		}
	}
	for _, it := range items {
		g, ok := got[it.h.ItemID]
		if !ok {
			t.Fatalf("item %x missing", it.h.ItemID[:2])
		}
		if err := g.h.Matches(&it.h); err != nil {
			t.Errorf("item %x: %v", it.h.ItemID[:2], err)
		}
		if !bytes.Equal(g.content, it.content) {
			t.Errorf("item %x: content differs", it.h.ItemID[:2])
		}
	}
	// The old identity opens none of the new ciphertexts.
	br, err := bundle.NewReader(bytes.NewReader(buf.Bytes()), bundle.Rewraps, bundle.TrustKeys(ak.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, item, _ := br.Next()
	var nm *age.NoIdentityMatchError
	if _, err := envelope.Open(item, old); !errors.As(err, &nm) {
		t.Errorf("the old identity on a rewrapped item: %v", err)
	}
}

func TestRefused(t *testing.T) {
	old, newID := identity(t), identity(t)
	items := threeItems()
	v, vdir := testVault(t, old, items)
	set := signedSet(t, newID)
	tmp := t.TempDir()
	if _, err := New(v, set, nil, tmp); err == nil {
		t.Error("a builder without identities to check with")
	}

	// Identities that are not of the new set: nothing is added.
	b, err := New(v, set, []age.Identity{old}, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add("10010000"); !errors.Is(err, ErrNotOpenable) {
		t.Errorf("checking with the old identity: %v", err)
	}
	if _, err := b.WriteBundle(io.Discard, key(t, sign.Access, 2)); err == nil {
		t.Error("an empty rewrap bundle was written")
	}
	b.Close()

	b, err = New(v, set, []age.Identity{newID}, tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"ffffffff", "10", "zz010000"} {
		if err := b.Add(id); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("Add %q: %v", id, err)
		}
	}
	// A content file edited in the vault (another size) is refused.
	e, err := v.Entry("10010000")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vdir, e.Path()), []byte("I have other documents."), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("10010000"); !errors.Is(err, ErrChanged) {
		t.Errorf("edited content: %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("%d items added by refused calls", b.Len())
	}
	// Errors never carry content or file names.
	if err := b.Add("10020000"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteBundle(io.Discard, key(t, sign.Instance, 1)); err == nil || strings.Contains(err.Error(), "pdf") {
		t.Errorf("a rewrap bundle signed with an instance key: %v", err)
	}
}

// TestNoNetworkDeps checks that the package, linked into the air-gapped
// client, depends on no networking package.
func TestNoNetworkDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net" || strings.HasPrefix(dep, "net/") || strings.Contains(dep, "bbolt") ||
			strings.HasPrefix(dep, "sandyq/server") {
			t.Errorf("depends on %s", dep)
		}
	}
}
