package bundle

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"sandyq/crypto/sign"
)

// FuzzReader feeds arbitrary bytes to the reader. With resign set, the
// input's header gets the test key and a valid signature over whatever
// manifest bytes follow, so the fuzzer gets past the signature to the
// manifest parser and the items. Nothing may panic, and memory allocated
// must stay proportional to the input, whatever sizes it declares.
func FuzzReader(f *testing.F) {
	inst := testKey(f, sign.Instance, 1)
	acc := testKey(f, sign.Access, 2)
	for _, typ := range []Type{Submissions, Replies} {
		key := inst
		if typ == Replies {
			key = acc
		}
		f.Add([]byte(nil), typ == Replies, true)
		f.Add(raw(typ, key, []byte("{}")), typ == Replies, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, replies, resign bool) {
		typ, key := Submissions, inst
		if replies {
			typ, key = Replies, acc
		}
		if resign && len(data) >= HeaderSize {
			data = bytes.Clone(data)
			copy(data[offSigner:offManifestLen], key.Public().Bytes())
			mlen := uint64(len(data) - HeaderSize)
			if n := uint64(data[offManifestLen+6])<<8 | uint64(data[offManifestLen+7]); n <= mlen {
				mlen = n
			}
			for i := offManifestLen; i < offManifestLen+8; i++ {
				data[i] = byte(mlen >> (8 * (offManifestLen + 7 - i)))
			}
			body := data[HeaderSize : HeaderSize+int(mlen)]
			copy(data[offSignature:HeaderSize], key.Sign(typ.signatureContext(), signedMessage(data, body)))
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, items, err := readAll(data, typ, TrustKeys(key.Public()), &ReaderOptions{MaxTotalSize: 1 << 40})
		runtime.ReadMemStats(&after)
		if limit := uint64(1<<20 + 64*len(data)); after.TotalAlloc-before.TotalAlloc > limit {
			t.Fatalf("allocated %d bytes for a %d-byte input", after.TotalAlloc-before.TotalAlloc, len(data))
		}
		if err != nil {
			if strings.Contains(err.Error(), "\x1b") {
				t.Fatalf("error contains an escape character: %q", err)
			}
			return
		}
		// Accepted: the items are what the manifest says and nothing else.
		var total int
		for i, it := range items {
			e := m.entry(i)
			if int64(len(it)) != e.Size {
				t.Fatalf("item %d: %d bytes, manifest says %d", i, len(it), e.Size)
			}
			total += len(it)
		}
		if HeaderSize+total > len(data) {
			t.Fatal("more bytes delivered than read")
		}
	})
}

// FuzzManifest checks the strict parser: whatever it accepts re-encodes to
// exactly the same bytes and parses again to the same manifest.
func FuzzManifest(f *testing.F) {
	inst := testKey(f, sign.Instance, 1).Public()
	acc := testKey(f, sign.Access, 2).Public()
	sub, _, rep, _, _, _ := vectorInputs(f)
	for _, m := range []*Manifest{sub, rep} {
		m.Signer = inst
		if m.Type == Replies {
			m.Signer = acc
		}
		b, err := m.marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, m.Type == Replies)
	}
	f.Add([]byte(`{"version":1,"version":1}`), false)
	f.Fuzz(func(t *testing.T, data []byte, replies bool) {
		typ, signer := Submissions, inst
		if replies {
			typ, signer = Replies, acc
		}
		m, err := parseManifest(data, typ, signer, DefaultMaxTotalSize)
		if err != nil {
			return
		}
		again, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted a non-canonical manifest:\n in %q\nout %q", data, again)
		}
		m2, err := parseManifest(again, typ, signer, DefaultMaxTotalSize)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatal("re-parsed manifest differs")
		}
		if err := m.validate(DefaultMaxTotalSize); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
	})
}

// TestWriteFuzzSeeds writes the committed seed corpora (with -update).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz seeds")
	}
	sub, subItems, rep, repItems, inst, acc := vectorInputs(t)
	subData := write(t, sub, subItems, inst)
	repData := write(t, rep, repItems, acc)
	subM := *sub
	subM.Signer = inst.Public()
	subBody, _ := subM.marshal()
	repM := *rep
	repM.Signer = acc.Public()
	repBody, _ := repM.marshal()

	truncated := subData[:len(subData)-5]
	trailing := append(bytes.Clone(subData), "trailing"...)
	flipped := bytes.Clone(subData)
	flipped[len(flipped)-3] ^= 1
	hugeLen := bytes.Clone(subData)
	copy(hugeLen[offManifestLen:], []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	dupKey := bytes.Replace(subBody, []byte(`"version":1,`), []byte(`"version":1,"version":1,`), 1)
	seeds := map[string][]any{
		"FuzzReader/submissions":   {subData, false, false},
		"FuzzReader/replies":       {repData, true, false},
		"FuzzReader/resigned":      {subData, false, true},
		"FuzzReader/truncated":     {truncated, false, false},
		"FuzzReader/trailing":      {trailing, false, false},
		"FuzzReader/flipped-item":  {flipped, false, false},
		"FuzzReader/huge-length":   {hugeLen, false, true},
		"FuzzReader/dup-key":       {raw(Submissions, inst, dupKey, subItems...), false, false},
		"FuzzReader/as-replies":    {subData, true, true},
		"FuzzManifest/submissions": {subBody, false},
		"FuzzManifest/replies":     {repBody, true},
		"FuzzManifest/dup-key":     {dupKey, false},
		"FuzzManifest/whitespace":  {bytes.Replace(subBody, []byte(`,`), []byte(`, `), -1), false},
		"FuzzManifest/null":        {[]byte(`null`), false},
	}
	for name, args := range seeds {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case bool:
				fmt.Fprintf(&b, "bool(%v)\n", v)
			}
		}
		path := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var _ io.Reader = (*itemReader)(nil)
