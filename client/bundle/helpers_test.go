package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"

	"sandyq/crypto/sign"
)

// testKey returns a deterministic key of kind k.
func testKey(t testing.TB, k sign.Kind, seed byte) *sign.PrivateKey {
	t.Helper()
	key, err := sign.NewPrivateKey(bytes.Repeat([]byte{seed}, 32), k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

const testRecipient = "age1pq1testrecipientxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// id16 and id32 make distinct, sortable IDs.
func id16(n int) (id [16]byte) {
	binary.BigEndian.PutUint32(id[12:], uint32(n))
	id[0] = 0x10
	return id
}

func id32(n int) (id [32]byte) {
	binary.BigEndian.PutUint32(id[28:], uint32(n))
	id[0] = 0xa0
	return id
}

// content returns deterministic item bytes of size n.
func content(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j*7 + j>>8)
	}
	return b
}

// submissions returns a manifest for items with the given contents, spread
// over up to three sources.
func submissions(contents [][]byte) *Manifest {
	m := &Manifest{Type: Submissions, After: 41, UpTo: 41 + uint64(len(contents)) + 2}
	nsrc := min(3, len(contents))
	for s := range nsrc {
		m.Sources = append(m.Sources, Source{ID: id32(s), ReplyRecipient: testRecipient})
	}
	for i, c := range contents {
		kind := Message
		if i%2 == 1 {
			kind = File
		}
		m.Items = append(m.Items, Item{
			ID: id16(i), Source: id32(i % nsrc), Kind: kind, Seq: uint64(100 + i),
			SetID: [16]byte{0x5e, byte(i)}, Day: 20000 + uint32(i), Size: int64(len(c)),
			SHA256: sha256.Sum256(c),
		})
	}
	return m
}

func replies(contents [][]byte) *Manifest {
	m := &Manifest{Type: Replies}
	for i, c := range contents {
		m.Replies = append(m.Replies, Reply{
			ID: id16(i), Source: id32(i % 2), Size: int64(len(c)), SHA256: sha256.Sum256(c),
		})
	}
	return m
}

// write makes a bundle.
func write(t testing.TB, m *Manifest, contents [][]byte, key *sign.PrivateKey) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range contents {
		if err := w.WriteItem(bytes.NewReader(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// raw makes a bundle from arbitrary manifest bytes, correctly signed, so
// that tests reach the manifest parser.
func raw(typ Type, key *sign.PrivateKey, manifest []byte, items ...[]byte) []byte {
	h := header{typ: typ, signer: key.Public().Bytes(), manifestLen: uint64(len(manifest))}
	hdr := h.marshal()
	sig := key.Sign(typ.signatureContext(), signedMessage(hdr, manifest))
	out := append(hdr, sig...)
	out = append(out, manifest...)
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// readAll reads a whole bundle, returning the first error.
func readAll(data []byte, typ Type, trust TrustFunc, opts *ReaderOptions) (*Manifest, [][]byte, error) {
	r, err := NewReader(bytes.NewReader(data), typ, trust, opts)
	if err != nil {
		return nil, nil, err
	}
	var out [][]byte
	for {
		_, ir, err := r.Next()
		if err == io.EOF {
			return r.Manifest(), out, nil
		}
		if err != nil {
			return r.Manifest(), out, err
		}
		b, err := io.ReadAll(ir)
		if err != nil {
			return r.Manifest(), out, err
		}
		out = append(out, b)
	}
}
