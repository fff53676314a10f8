package reply

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/agekey"
	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/crypto/sourcekey"
)

func hybrid(t testing.TB, seed byte) *age.HybridIdentity {
	t.Helper()
	id, err := agekey.HybridFromSeed(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func accessKey(t testing.TB) *sign.PrivateKey {
	t.Helper()
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{4}, 32), sign.Access)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	name, err := codename.Normalize("abacus abdomen abdominal abide abiding ability ablaze")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sourcekey.Derive(name, bytes.Repeat([]byte{1}, 32), sourcekey.TestParams())
	if err != nil {
		t.Fatal(err)
	}
	journalist := hybrid(t, 2)
	rs, err := Recipients(keys.ReplyRecipient(), []Named{{"the identity", journalist.Recipient().String()}})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Thank you. Can you send the second page?\n", "Второе сообщение: қазақша да жаза аламыз."}
	var replies []*Reply
	for _, text := range texts {
		r, err := Seal(rand.Reader, keys.SourceID, []byte(text), rs)
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, r)
	}
	var out bytes.Buffer
	if err := WriteBundle(&out, replies, accessKey(t)); err != nil {
		t.Fatal(err)
	}

	br, err := bundle.NewReader(bytes.NewReader(out.Bytes()), bundle.Replies, bundle.TrustKeys(accessKey(t).Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := br.Manifest()
	if len(m.Replies) != 2 || bytes.Compare(m.Replies[0].ID[:], m.Replies[1].ID[:]) >= 0 {
		t.Fatalf("manifest %+v", m.Replies)
	}
	got := map[string]bool{}
	for {
		e, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(item)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > MaxSize {
			t.Errorf("reply of %d bytes", len(data))
		}
		// The source reads it with the identity from its codename; the
		// newsroom with its own.
		for _, id := range []age.Identity{keys.ReplyIdentity, journalist} {
			r, err := envelope.Open(bytes.NewReader(data), id)
			if err != nil {
				t.Fatal(err)
			}
			want := &envelope.Header{ItemID: m.Replies[e.Index].ID, SourceID: keys.SourceID, Kind: envelope.Reply}
			if err := r.Header.Matches(want); err != nil {
				t.Errorf("header: %v", err)
			}
			if m.Replies[e.Index].Source != keys.SourceID {
				t.Error("manifest source")
			}
			text, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			got[string(text)] = true
		}
	}
	for _, text := range texts {
		if !got[text] {
			t.Errorf("reply %q not in the bundle", text)
		}
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   []age.Recipient
	}{
		{"pq", []age.Recipient{hybrid(t, 1).Recipient(), hybrid(t, 2).Recipient()}},
		{"pq three", []age.Recipient{hybrid(t, 1).Recipient(), hybrid(t, 2).Recipient(), hybrid(t, 3).Recipient()}},
		{"x25519", func() []age.Recipient {
			x, _ := age.GenerateX25519Identity()
			return []age.Recipient{x.Recipient()}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit, err := MaxText(tc.rs)
			if err != nil {
				t.Fatal(err)
			}
			if limit < 3<<20 || limit >= MaxSize {
				t.Fatalf("limit %d", limit)
			}
			hdr, _ := headerSize(tc.rs)
			for _, n := range []int64{1, ageChunk - 70, ageChunk, ageChunk + 1, 1 << 20, limit} {
				r, err := Seal(rand.Reader, [32]byte{1}, bytes.Repeat([]byte("a"), int(n)), tc.rs)
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				h := header(r.ID, r.Source)
				if want := ageSize(hdr, envelope.PaddedSize(h, n)); int64(len(r.Data)) != want {
					t.Errorf("%d bytes: sealed %d, predicted %d", n, len(r.Data), want)
				}
				if len(r.Data) > MaxSize {
					t.Errorf("%d bytes: sealed %d", n, len(r.Data))
				}
			}
			_, err = Seal(rand.Reader, [32]byte{1}, bytes.Repeat([]byte("a"), int(limit+1)), tc.rs)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("limit+1: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestRefusals(t *testing.T) {
	pq := hybrid(t, 1).Recipient().String()
	x, _ := age.GenerateX25519Identity()
	classic := x.Recipient().String()
	if _, err := Recipients(pq, []Named{{"the -i identity", classic}}); !errors.Is(err, ErrMixedKinds) ||
		!strings.Contains(err.Error(), "the -i identity is classic") {
		t.Errorf("classic next to pq: %v", err)
	}
	if _, err := Recipients(classic, []Named{{"the --recipients set", pq}}); !errors.Is(err, ErrMixedKinds) {
		t.Errorf("pq next to classic: %v", err)
	}
	rs, err := Recipients(pq, []Named{{"a", pq}, {"b", hybrid(t, 2).Recipient().String()}, {"c", strings.ToUpper(pq)}})
	if err != nil || len(rs) != 2 {
		t.Errorf("duplicates: %d, %v", len(rs), err)
	}
	if _, err := Recipients("age1nope", nil); err == nil || strings.Contains(err.Error(), "nope") {
		t.Errorf("bad source recipient: %v", err)
	}
	secret := x.String()
	if _, err := Recipients(pq, []Named{{"x", secret}}); !errors.Is(err, recipients.ErrSecretKey) || strings.Contains(err.Error(), secret) {
		t.Errorf("secret key: %v", err)
	}

	rs, _ = Recipients(pq, nil)
	for text, want := range map[string]error{"": ErrEmpty, "a\xffb": ErrNotText} {
		if _, err := Seal(rand.Reader, [32]byte{}, []byte(text), rs); !errors.Is(err, want) {
			t.Errorf("%q: %v", text, err)
		}
	}

	// Too many replies for one bundle.
	var big []*Reply
	for i := range 17 {
		big = append(big, &Reply{ID: [16]byte{byte(i)}, Data: make([]byte, MaxSize-1000)})
	}
	if err := WriteBundle(io.Discard, big, accessKey(t)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bundle over 64 MiB: %v", err)
	}
	twins := []*Reply{{ID: [16]byte{1}, Data: []byte("x")}, {ID: [16]byte{1}, Data: []byte("y")}}
	if err := WriteBundle(io.Discard, twins, accessKey(t)); err == nil {
		t.Error("two replies with one ID")
	}
	if err := WriteBundle(io.Discard, nil, accessKey(t)); err == nil {
		t.Error("empty bundle")
	}
	inst, _ := sign.NewPrivateKey(bytes.Repeat([]byte{4}, 32), sign.Instance)
	if err := WriteBundle(io.Discard, twins[:1], inst); err == nil {
		t.Error("signed with an instance key")
	}
}
