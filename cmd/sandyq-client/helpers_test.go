package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
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

// tbItem is an item of a test bundle made by buildBundle.
type tbItem struct {
	id        [16]byte
	src       [32]byte
	kind      bundle.Kind
	seq       uint64
	filename  string
	mediaType string
	content   []byte
}

// tbOpts changes what buildBundle writes.
type tbOpts struct {
	upTo       uint64              // default: number of items
	recipients map[[32]byte]string // reply recipients; default testReplyRecipient
	key        *sign.PrivateKey    // default testInstanceKey
}

// testSource returns the ID of test source n.
func testSource(n byte) (id [32]byte) {
	id[0], id[1], id[31] = 0xa0, n, n
	return id
}

// testItemID returns the ID of test item n.
func testItemID(n byte) (id [16]byte) {
	id[0], id[15] = 0x10, n
	return id
}

// testReplyRecipient returns a valid post-quantum reply recipient for the
// source src (not derived from a codename: its identity is testReplyIdentity).
func testReplyRecipient(t testing.TB, src [32]byte) string {
	return testReplyIdentity(t, src).Recipient().String()
}

func testReplyIdentity(t testing.TB, src [32]byte) *age.HybridIdentity {
	t.Helper()
	seed := sha256.Sum256(src[:])
	id, err := agekey.HybridFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// buildBundle returns a submissions bundle of items (sorted by ID here),
// encrypted to rcpt.
func buildBundle(t testing.TB, rcpt age.Recipient, items []tbItem, o tbOpts) []byte {
	t.Helper()
	items = append([]tbItem(nil), items...)
	sort.Slice(items, func(i, j int) bool { return bytes.Compare(items[i].id[:], items[j].id[:]) < 0 })
	m := &bundle.Manifest{Type: bundle.Submissions, UpTo: uint64(len(items))}
	if o.upTo != 0 {
		m.UpTo = o.upTo
	}
	var blobs [][]byte
	srcs := map[[32]byte]bool{}
	for _, it := range items {
		srcs[it.src] = true
		h := &envelope.Header{ItemID: it.id, SourceID: it.src, Kind: envelope.Kind(it.kind), Sequence: it.seq}
		if it.kind == bundle.File {
			h.Filename, h.MediaType = it.filename, it.mediaType
			if h.MediaType == "" {
				h.MediaType = "application/octet-stream"
			}
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
		m.Items = append(m.Items, bundle.Item{ID: it.id, Source: it.src, Kind: it.kind, Seq: it.seq,
			Day: 20500, Size: int64(buf.Len()), SHA256: sha256.Sum256(buf.Bytes())})
	}
	for s := range srcs {
		r, ok := o.recipients[s]
		if !ok {
			r = testReplyRecipient(t, s)
		}
		m.Sources = append(m.Sources, bundle.Source{ID: s, ReplyRecipient: r})
	}
	sort.Slice(m.Sources, func(i, j int) bool { return bytes.Compare(m.Sources[i].ID[:], m.Sources[j].ID[:]) < 0 })
	key := o.key
	if key == nil {
		key = testInstanceKey(t)
	}
	var out bytes.Buffer
	w, err := bundle.NewWriter(&out, m, key)
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

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseRecipient parses an age recipient printed by keygen.
func parseRecipient(t testing.TB, s string) age.Recipient {
	t.Helper()
	r, err := age.ParseHybridRecipient(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// vaultPaths returns every path in the vault at dir, relative, with "."
// for the vault itself.
func vaultPaths(t testing.TB, dir string) map[string]fs.FileMode {
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
		out[rel] = fi.Mode()
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// checkVaultHolds fails unless the vault at dir holds exactly the paths
// want (and "." if any): no temporary file, no partial plaintext, no
// record of an item that failed.
func checkVaultHolds(t testing.TB, dir string, want ...string) {
	t.Helper()
	got := vaultPaths(t, dir)
	w := map[string]bool{}
	if len(want) > 0 {
		w["."] = true
	}
	for _, p := range want {
		w[p] = true
	}
	for p := range got {
		if !w[p] {
			t.Errorf("left in the vault: %q", p)
		}
	}
	for p := range w {
		if _, ok := got[p]; !ok {
			t.Errorf("missing from the vault: %q", p)
		}
	}
}

// sourcePaths are the paths a source with a recorded reply recipient has.
func sourcePaths(src [32]byte) []string {
	h := hex.EncodeToString(src[:])
	return []string{h, h + "/.meta", h + "/.meta/source.json"}
}

// taggedPNG returns a small PNG with a tEXt chunk naming its author
// ("AUTHOR-MARKER").
func taggedPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.NRGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	clean := buf.Bytes()
	const ihdrEnd = 8 + 12 + 13
	text := []byte("Author\x00AUTHOR-MARKER")
	var chunk bytes.Buffer
	binary.Write(&chunk, binary.BigEndian, uint32(len(text)))
	chunk.WriteString("tEXt")
	chunk.Write(text)
	binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("tEXt"), text...)))
	return append(append(append([]byte{}, clean[:ihdrEnd]...), chunk.Bytes()...), clean[ihdrEnd:]...)
}
