package sourcekey

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/crypto/agekey"
	"sandyq/crypto/internal/bech32"
	"sandyq/crypto/internal/testvec"
)

var update = flag.Bool("update", false, "rewrite crypto/testdata/sourcekey.txt")

const name = "abacus abdomen abdominal abide abiding ability ablaze"

func pepper(b byte) []byte { return bytes.Repeat([]byte{b}, PepperSize) }

func derive(t *testing.T, n string, pep []byte) *Keys {
	t.Helper()
	k, err := Derive(n, pep, TestParams())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDeterministic(t *testing.T) {
	a, b := derive(t, name, pepper(1)), derive(t, name, pepper(1))
	if a.SourceID != b.SourceID || a.ReplyRecipient() != b.ReplyRecipient() ||
		a.ReplyIdentity.String() != b.ReplyIdentity.String() {
		t.Fatal("Derive is not deterministic")
	}
	if !strings.HasPrefix(a.ReplyRecipient(), "age1pq1") {
		t.Fatalf("reply recipient is not post-quantum")
	}
}

func TestDifferentInputs(t *testing.T) {
	a := derive(t, name, pepper(1))
	for _, k := range []*Keys{
		derive(t, name, pepper(2)),
		derive(t, "abacus abdomen abdominal abide abiding ability zoom", pepper(1)),
	} {
		if k.SourceID == a.SourceID || k.ReplyRecipient() == a.ReplyRecipient() {
			t.Fatal("different input gave the same keys")
		}
	}
	p := TestParams()
	p.Time++
	k, err := Derive(name, pepper(1), p)
	if err != nil || k.SourceID == a.SourceID {
		t.Fatalf("different params gave the same keys (%v)", err)
	}
	// The source ID and the reply seed are independent HKDF outputs.
	_, seed, err := bech32.Decode(a.ReplyIdentity.String())
	if err != nil || len(seed) != 32 || bytes.Equal(seed, a.SourceID[:]) {
		t.Fatalf("reply seed: %d bytes, %v", len(seed), err)
	}
}

func TestReplyRoundTrip(t *testing.T) {
	k := derive(t, name, pepper(1))
	r, err := age.ParseHybridRecipient(k.ReplyRecipient())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "a reply")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	k2 := derive(t, name, pepper(1))
	pr, err := age.Decrypt(bytes.NewReader(buf.Bytes()), k2.ReplyIdentity)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(pr)
	if string(got) != "a reply" {
		t.Fatalf("got %q", got)
	}
	other := derive(t, name, pepper(9))
	if _, err := age.Decrypt(bytes.NewReader(buf.Bytes()), other.ReplyIdentity); !errors.Is(err, age.ErrIncorrectIdentity) {
		var nm *age.NoIdentityMatchError
		if !errors.As(err, &nm) {
			t.Fatalf("other identity: %v", err)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := Derive(name, make([]byte, n), TestParams())
		if !errors.Is(err, ErrPepperSize) {
			t.Errorf("pepper of %d bytes: %v", n, err)
		}
	}
	for _, n := range []string{"", "ABACUS abdomen abdominal abide abiding ability ablaze", " " + name, "abacus"} {
		_, err := Derive(n, pepper(1), TestParams())
		if !errors.Is(err, ErrNotNormalized) {
			t.Errorf("codename %q: %v", n, err)
		}
		if n != "" && strings.Contains(err.Error(), "abacus") {
			t.Errorf("error echoes the codename")
		}
	}
	for _, p := range []Params{{}, {Time: 1, MemoryKiB: 7, Threads: 1}, {Time: 1, MemoryKiB: 64, Threads: 0},
		{Time: 1, MemoryKiB: MaxMemoryKiB + 1, Threads: 1}, {Time: 65, MemoryKiB: 64, Threads: 1}} {
		if _, err := Derive(name, pepper(1), p); !errors.Is(err, ErrParams) {
			t.Errorf("params %v: %v", p, err)
		}
	}
	if err := Default.Check(); err != nil {
		t.Fatal(err)
	}
}

// The reply identity is agekey.HybridFromSeed of the reply seed; agekey's
// tests check that age itself refuses a seed of another size.
func TestSeedSize(t *testing.T) {
	if _, err := agekey.HybridFromSeed(make([]byte, 64)); err == nil {
		t.Fatal("64-byte seed accepted")
	}
	if _, err := agekey.HybridFromSeed(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
}

// TestVectors checks crypto/testdata/sourcekey.txt (run with -update to
// rewrite it after a deliberate format change).
func TestVectors(t *testing.T) {
	const path = "../testdata/sourcekey.txt"
	inputs := []struct {
		name   string
		pepper []byte
		params Params
	}{
		{name, pepper(1), TestParams()},
		{"zoom zoom zoom zoom zoom zoom zoom", mustHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), TestParams()},
		{"t-shirt yo-yo drop-down abacus zoom ablaze abide", pepper(0xa5), Default},
	}
	if *update {
		var recs []*testvec.Record
		for _, in := range inputs {
			k, err := Derive(in.name, in.pepper, in.params)
			if err != nil {
				t.Fatal(err)
			}
			r := &testvec.Record{}
			r.Add("codename", in.name)
			r.Add("pepper", hex.EncodeToString(in.pepper))
			r.Add("params", in.params.String())
			r.Add("source-id", hex.EncodeToString(k.SourceID[:]))
			r.Add("reply-identity", k.ReplyIdentity.String())
			r.Add("reply-recipient", k.ReplyRecipient())
			recs = append(recs, r)
		}
		comment := []string{
			"sandyq test vectors: source key derivation (crypto/sourcekey, docs/format.md \"Key derivation\").",
			"",
			"master = Argon2id(codename, salt = pepper, params, 32 bytes)",
			"source-id = HKDF-SHA256(master, salt = none, info = \"sandyq v1 source id\", 32 bytes)",
			"seed = HKDF-SHA256(master, salt = none, info = \"sandyq v1 reply identity\", 32 bytes)",
			"reply-identity = Bech32(\"AGE-SECRET-KEY-PQ-\", seed), upper case; reply-recipient is its age1pq1 recipient.",
			"params: argon2id t=<time> m=<memory KiB> p=<threads>. The t=1 m=64 p=1 vectors use TEST-ONLY parameters.",
			"Records are separated by empty lines; fields are \"name: value\". Values are hex unless they are key strings.",
		}
		if err := os.WriteFile(path, testvec.Format(comment, recs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := testvec.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(inputs) {
		t.Fatalf("%d records, want %d", len(recs), len(inputs))
	}
	for i, r := range recs {
		if testing.Short() && inputs[i].params == Default {
			continue
		}
		pep := mustHex(r.Get("pepper"))
		if r.Get("params") != inputs[i].params.String() {
			t.Fatalf("record %d: params %q", i, r.Get("params"))
		}
		k, err := Derive(r.Get("codename"), pep, inputs[i].params)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(k.SourceID[:]); got != r.Get("source-id") {
			t.Errorf("record %d: source id %s, file says %s", i, got, r.Get("source-id"))
		}
		if k.ReplyIdentity.String() != r.Get("reply-identity") || k.ReplyRecipient() != r.Get("reply-recipient") {
			t.Errorf("record %d: reply keys differ from the file", i)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
