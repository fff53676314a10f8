package japi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/client/rewrap"
	"sandyq/crypto/agekey"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/store"
)

// installSet stores a recipient set of one fresh PQ identity, signed by a
// test newsroom key, valid over [nb, na), and returns its ID and identity.
func installSet(t *testing.T, f *fixture, nb, na time.Time) ([16]byte, *age.HybridIdentity) {
	t.Helper()
	id, err := agekey.GenerateHybrid(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, nb, na)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := set.Sign(key(t, sign.Newsroom, 7))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.kr.Install(raw); err != nil {
		t.Fatal(err)
	}
	return set.ID, id
}

// rewrapBundle writes a rewrap bundle of the given entries and ciphertexts
// (in any order) signed by k.
func rewrapBundle(t *testing.T, k *sign.PrivateKey, rs []bundle.Rewrap, data [][]byte) []byte {
	t.Helper()
	byID := map[[16]byte][]byte{}
	for i, r := range rs {
		byID[r.ID] = data[i]
	}
	sorted := append([]bundle.Rewrap(nil), rs...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if bytes.Compare(sorted[j].ID[:], sorted[i].ID[:]) < 0 {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	var buf bytes.Buffer
	w, err := bundle.NewWriter(&buf, &bundle.Manifest{Type: bundle.Rewraps, Rewraps: sorted}, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sorted {
		if err := w.WriteItem(bytes.NewReader(byID[r.ID])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func rw(id store.ItemID, src store.SourceID, set [16]byte, data []byte) bundle.Rewrap {
	return bundle.Rewrap{ID: id, Source: src, SetID: set, Size: int64(len(data)), SHA256: sha(data)}
}

// sealTo returns an item's envelope (the header the server gave it)
// encrypted to id's recipient.
func sealTo(t *testing.T, it *store.Item, id *age.HybridIdentity, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := &envelope.Header{ItemID: it.ID, SourceID: it.Source, Kind: envelope.Kind(it.Kind), Sequence: it.Seq}
	if h.Kind == envelope.File {
		h.Filename, h.MediaType = "a.txt", "text/plain"
	}
	w, err := envelope.Seal(&buf, h, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, content)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRewrapAPI(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	c := f.client(f.alice)
	ids := []store.ItemID{f.addItem(t, 0, 3000), f.addItem(t, 0, 10), f.addItem(t, 1, 500)}
	before := map[store.ItemID]*store.Item{}
	for _, id := range ids {
		it, err := f.st.Item(id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = it
	}
	setID, newID := installSet(t, f, f.now.Add(-time.Hour), f.now.Add(24*time.Hour))

	// The first two items get real envelopes, encrypted to the new set.
	new0 := sealTo(t, before[ids[0]], newID, "the first item, rewrapped")
	new1 := sealTo(t, before[ids[1]], newID, "the second")
	b := rewrapBundle(t, f.alice, []bundle.Rewrap{rw(ids[0], f.srcs[0], setID, new0), rw(ids[1], f.srcs[0], setID, new1)}, [][]byte{new0, new1})
	res, err := c.PushRewrap(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil || res.Replaced != 2 || res.Already != 0 {
		t.Fatalf("push: %+v, %v", res, err)
	}
	for i, data := range [][]byte{new0, new1} {
		it, err := f.st.Item(ids[i])
		if err != nil {
			t.Fatal(err)
		}
		want := *before[ids[i]]
		want.SetID, want.Size, want.SHA256 = setID, int64(len(data)), sha(data)
		if *it != want {
			t.Errorf("item %d after the rewrap:\n got %+v\nwant %+v", i, *it, want)
		}
		f.contents[ids[i]] = data
	}
	// Fetching again from the start serves the new ciphertexts (fetch
	// compares every item with f.contents), with the new set in the
	// manifest, and they decrypt with the new set's identity to envelopes
	// that match the manifest.
	zero := uint64(0)
	var buf bytes.Buffer
	if _, err := c.Bundle(ctx, &zero, &buf, nil); err != nil {
		t.Fatal(err)
	}
	_, m := f.fetch(t, c, &zero)
	br, err := bundle.NewReader(&buf, bundle.Submissions, bundle.TrustKeys(f.inst.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for {
		e, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		mi := m.Items[e.Index]
		if mi.ID != ids[0] && mi.ID != ids[1] {
			if mi.SetID == setID {
				t.Error("an item not in the rewrap bundle got the new set")
			}
			continue
		}
		if mi.SetID != setID {
			t.Errorf("item %x: manifest set is not the new one", mi.ID[:4])
		}
		r, err := envelope.Open(item, newID)
		if err != nil {
			t.Fatalf("item %x: %v", mi.ID[:4], err)
		}
		want := &envelope.Header{ItemID: mi.ID, SourceID: mi.Source, Kind: envelope.Kind(mi.Kind), Sequence: mi.Seq,
			Filename: "a.txt", MediaType: "text/plain"}
		if err := r.Header.Matches(want); err != nil {
			t.Errorf("item %x: %v", mi.ID[:4], err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		opened++
	}
	if opened != 2 {
		t.Fatalf("opened %d rewrapped items", opened)
	}

	// The same bundle again changes nothing.
	res, err = c.PushRewrap(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil || res.Replaced != 0 || res.Already != 2 {
		t.Fatalf("second push: %+v, %v", res, err)
	}
}

func TestRewrapAPIRefused(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	c := f.client(f.alice)
	a0, a1, b0 := f.addItem(t, 0, 100), f.addItem(t, 0, 100), f.addItem(t, 1, 100)
	setID, _ := installSet(t, f, f.now.Add(-time.Hour), f.now.Add(time.Hour))
	future, _ := installSet(t, f, f.now.Add(time.Hour), f.now.Add(48*time.Hour))
	// The keyring refuses to install an expired set: install it while it
	// was valid.
	now := f.now
	f.now = now.Add(-2 * time.Hour)
	expired, _ := installSet(t, f, now.Add(-48*time.Hour), now.Add(-time.Hour))
	f.now = now
	one := append([]byte("age-encryption.org/v1\n"), "one"...)
	two := append([]byte("age-encryption.org/v1\n"), "two"...)
	good := rewrapBundle(t, f.alice, []bundle.Rewrap{rw(a0, f.srcs[0], setID, one), rw(a1, f.srcs[0], setID, two)}, [][]byte{one, two})

	refused := []struct {
		name   string
		body   []byte
		status int
	}{
		// Signed by Bob, sent by Alice: the bundle's signer must be the caller.
		{"other signer", rewrapBundle(t, f.bob, []bundle.Rewrap{rw(a0, f.srcs[0], setID, one)}, [][]byte{one}), 400},
		{"unknown item", rewrapBundle(t, f.alice, []bundle.Rewrap{rw(a0, f.srcs[0], setID, one), rw(store.ItemID{0xee}, f.srcs[0], setID, two)}, [][]byte{one, two}), 404},
		{"item of another source", rewrapBundle(t, f.alice, []bundle.Rewrap{rw(a0, f.srcs[0], setID, one), rw(b0, f.srcs[0], setID, two)}, [][]byte{one, two}), 404},
		{"unknown set", rewrapBundle(t, f.alice, []bundle.Rewrap{rw(a0, f.srcs[0], setID, one), rw(a1, f.srcs[0], [16]byte{0x5e}, two)}, [][]byte{one, two}), 409},
		{"expired set", rewrapBundle(t, f.alice, []bundle.Rewrap{rw(a0, f.srcs[0], expired, one)}, [][]byte{one}), 409},
		{"not age", rewrapBundle(t, f.alice, []bundle.Rewrap{rw(a0, f.srcs[0], setID, one), rw(a1, f.srcs[0], setID, []byte("plaintext!"))}, [][]byte{one, []byte("plaintext!")}), 400},
		{"empty", rewrapBundle(t, f.alice, nil, nil), 400},
		{"truncated", good[:len(good)-1], 400},
		{"a byte flipped in an item", func() []byte { b := bytes.Clone(good); b[len(b)-2] ^= 1; return b }(), 400},
		{"reply bundle", replyBundle(t, f.alice, []bundle.Reply{reply(1, f.srcs[0], one)}, [][]byte{one}), 400},
	}
	for _, r := range refused {
		_, err := c.PushRewrap(ctx, bytes.NewReader(r.body), int64(len(r.body)))
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != r.status {
			t.Errorf("%s: %v, want status %d", r.name, err, r.status)
		}
		// Nothing changed, nothing is left staged.
		for _, id := range []store.ItemID{a0, a1, b0} {
			it, err := f.st.Item(id)
			if err != nil || it.SetID != [16]byte{9} || it.SHA256 != sha(f.contents[id]) {
				t.Fatalf("%s: item %x changed by a refused bundle", r.name, id[:4])
			}
		}
		if st, err := f.st.Stats(); err != nil || st.Pending != 0 {
			t.Fatalf("%s: staged chunks left: %+v %v", r.name, st, err)
		}
	}
	if err := f.st.Check(); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxRewrapBundle+1)
	if _, err := c.PushRewrap(ctx, bytes.NewReader(big), int64(len(big))); err == nil || !strings.Contains(err.Error(), "413") {
		t.Errorf("oversized body: %v", err)
	}
	// A set whose window starts later (the next epoch) is fine, and so
	// is the good bundle.
	next := rewrapBundle(t, f.alice, []bundle.Rewrap{rw(b0, f.srcs[1], future, one)}, [][]byte{one})
	for _, b := range [][]byte{good, next} {
		if res, err := c.PushRewrap(ctx, bytes.NewReader(b), int64(len(b))); err != nil || res.Replaced == 0 {
			t.Fatalf("push: %+v, %v", res, err)
		}
	}
}

// TestRewrapLimitAgrees checks that the offline client refuses to write
// a rewrap bundle the server would refuse.
func TestRewrapLimitAgrees(t *testing.T) {
	if rewrap.MaxBundleSize != MaxRewrapBundle {
		t.Fatalf("client/rewrap.MaxBundleSize is %d, the server takes %d", rewrap.MaxBundleSize, MaxRewrapBundle)
	}
}
