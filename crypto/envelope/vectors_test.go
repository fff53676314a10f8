package envelope

import (
	"bytes"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"strconv"
	"testing"

	"filippo.io/age"

	"sandyq/crypto/internal/testvec"
)

var update = flag.Bool("update", false, "rewrite crypto/testdata/envelope.txt")

// TestVectors checks crypto/testdata/envelope.txt (-update rewrites it).
func TestVectors(t *testing.T) {
	const path = "../testdata/envelope.txt"
	id := x25519Identity(t, 7)
	if *update {
		var recs []*testvec.Record
		for _, v := range []struct {
			h *Header
			c []byte
		}{
			{testHeader(Message), nil},
			{testHeader(Message), []byte("hello, newsroom\n")},
			{testHeader(File), []byte("%PDF-1.7\n")},
			{testHeader(Reply), []byte("thank you")},
		} {
			pt := plaintext(t, v.h, v.c)
			ct := seal(t, v.h, v.c, id.Recipient())
			r := &testvec.Record{}
			r.Add("item-id", hex.EncodeToString(v.h.ItemID[:]))
			r.Add("source-id", hex.EncodeToString(v.h.SourceID[:]))
			r.Add("kind", strconv.Itoa(int(v.h.Kind)))
			r.Add("sequence", strconv.FormatUint(v.h.Sequence, 10))
			r.Add("filename-hex", hex.EncodeToString([]byte(v.h.Filename)))
			r.Add("media-type", v.h.MediaType)
			r.Add("content-hex", hex.EncodeToString(v.c))
			r.Add("plaintext-hex", hex.EncodeToString(pt))
			r.Add("age-identity", id.String())
			r.Add("age-ciphertext-hex", hex.EncodeToString(ct))
			recs = append(recs, r)
		}
		comment := []string{
			"sandyq test vectors: envelopes (crypto/envelope, docs/format.md \"Envelope byte layout\").",
			"",
			"plaintext-hex is the exact age plaintext for the header fields and content-hex:",
			"header | frames | end frame | trailer (length, SHA-256(header || content)) | zero padding to Padmé length.",
			"age-ciphertext-hex is one age encryption of it to age-identity's recipient (TEST-ONLY X25519 key);",
			"age encryption is randomized, so only decryption is reproducible. kind: 1 message, 2 file, 3 reply.",
			"filename-hex is hex because filenames are arbitrary bytes (this one has a U+202E and a \"../\").",
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
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for i, r := range recs {
		h := &Header{}
		copy(h.ItemID[:], mustHex(t, r.Get("item-id")))
		copy(h.SourceID[:], mustHex(t, r.Get("source-id")))
		k, _ := strconv.Atoi(r.Get("kind"))
		h.Kind = Kind(k)
		h.Sequence, _ = strconv.ParseUint(r.Get("sequence"), 10, 64)
		h.Filename = string(mustHex(t, r.Get("filename-hex")))
		h.MediaType = r.Get("media-type")
		c := mustHex(t, r.Get("content-hex"))
		pt := mustHex(t, r.Get("plaintext-hex"))
		if got := plaintext(t, h, c); !bytes.Equal(got, pt) {
			t.Fatalf("record %d: encoding differs from the file", i)
		}
		rid, err := age.ParseX25519Identity(r.Get("age-identity"))
		if err != nil {
			t.Fatal(err)
		}
		ct := mustHex(t, r.Get("age-ciphertext-hex"))
		dec, err := age.Decrypt(bytes.NewReader(ct), rid)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(dec); !bytes.Equal(got, pt) {
			t.Fatalf("record %d: age plaintext differs", i)
		}
		gh, gc, err := readAll(bytes.NewReader(ct), rid)
		if err != nil || !bytes.Equal(gc, c) || gh.Matches(h) != nil {
			t.Fatalf("record %d: Open: %v", i, err)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
