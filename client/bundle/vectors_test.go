package bundle

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sandyq/crypto/sign"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bundle from the fixed inputs")

// vectorInputs returns the fixed inputs of the test vectors described in
// docs/format.md: keys with seeds 32×0x01 (instance) and 32×0x02 (access),
// and short items that stand in for age files.
func vectorInputs(t testing.TB) (sub *Manifest, subItems [][]byte, rep *Manifest, repItems [][]byte, inst, acc *sign.PrivateKey) {
	inst = testKey(t, sign.Instance, 1)
	acc = testKey(t, sign.Access, 2)
	subItems = [][]byte{[]byte("first item\n"), {}, []byte("third item, a file\n")}
	src1 := [32]byte{0x11, 0x11}
	src2 := [32]byte{0x22, 0x22}
	set := [16]byte{0x5e, 0x7}
	sub = &Manifest{
		Type: Submissions, After: 7, UpTo: 10,
		Sources: []Source{
			{ID: src1, ReplyRecipient: "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"},
			{ID: src2, ReplyRecipient: "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg"},
		},
		Items: []Item{
			{ID: [16]byte{0x01}, Source: src1, Kind: Message, Seq: 1, SetID: set, Day: 20500},
			{ID: [16]byte{0x02}, Source: src2, Kind: Message, Seq: 1, SetID: set, Day: 20500},
			{ID: [16]byte{0x03}, Source: src1, Kind: File, Seq: 2, SetID: set, Day: 20501},
		},
	}
	for i, c := range subItems {
		sub.Items[i].Size, sub.Items[i].SHA256 = int64(len(c)), sha256.Sum256(c)
	}
	repItems = [][]byte{[]byte("a reply\n")}
	rep = &Manifest{Type: Replies, Replies: []Reply{
		{ID: [16]byte{0xaa}, Source: src1, Size: int64(len(repItems[0])), SHA256: sha256.Sum256(repItems[0])},
	}}
	return
}

// rewrapVectorInputs returns the fixed inputs of the rewrap bundle vector,
// signed with the access key of vectorInputs: two items of the
// submissions vector, now encrypted to another set (short stand-ins for
// the age files).
func rewrapVectorInputs() (*Manifest, [][]byte) {
	items := [][]byte{[]byte("first item, rewrapped\n"), []byte("third item, rewrapped\n")}
	set := [16]byte{0x5e, 0x08}
	m := &Manifest{Type: Rewraps, Rewraps: []Rewrap{
		{ID: [16]byte{0x01}, Source: [32]byte{0x11, 0x11}, SetID: set},
		{ID: [16]byte{0x03}, Source: [32]byte{0x11, 0x11}, SetID: set},
	}}
	for i, c := range items {
		m.Rewraps[i].Size, m.Rewraps[i].SHA256 = int64(len(c)), sha256.Sum256(c)
	}
	return m, items
}

func TestVectors(t *testing.T) {
	sub, subItems, rep, repItems, inst, acc := vectorInputs(t)
	rw, rwItems := rewrapVectorInputs()
	for _, v := range []struct {
		file  string
		m     *Manifest
		items [][]byte
		key   *sign.PrivateKey
	}{
		{"submissions.bundle", sub, subItems, inst},
		{"replies.bundle", rep, repItems, acc},
		{"rewrap.bundle", rw, rwItems, acc},
	} {
		path := filepath.Join("testdata", v.file)
		made := write(t, v.m, v.items, v.key)
		if *update {
			if err := os.WriteFile(path, made, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(made, data) {
			t.Errorf("%s: the writer's output differs from the vector", v.file)
		}
		got, items, err := readAll(data, v.m.Type, TrustKeys(v.key.Public()), nil)
		if err != nil {
			t.Fatalf("%s: %v", v.file, err)
		}
		want := *v.m
		want.Signer = v.key.Public()
		normalize(&want)
		normalize(got)
		if !reflect.DeepEqual(got, &want) || !reflect.DeepEqual(items, v.items) {
			t.Errorf("%s: read back differently", v.file)
		}
		t.Logf("%s: %d bytes, SHA-256 %x, signer %s", v.file, len(data), sha256.Sum256(data), v.key.Public())
	}
}
