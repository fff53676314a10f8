package bundle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"sandyq/crypto/sign"
)

// canonical returns the signed manifest bytes of m for key.
func canonical(t testing.TB, m *Manifest, key *sign.PrivateKey) string {
	t.Helper()
	mc := *m
	mc.Signer = key.Public()
	b, err := mc.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestManifestCanonicalForm(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	m := submissions([][]byte{content(0, 3)})
	got := canonical(t, m, key)
	want := `{"version":1,"type":"submissions","signer":"` + key.Public().String() +
		`","after":41,"up_to":44,"sources":[{"id":"a0000000000000000000000000000000000000000000000000000000000000000","reply_recipient":"` + testRecipient +
		`"}],"items":[{"id":"10000000000000000000000000000000","source":"a0000000000000000000000000000000000000000000000000000000000000000","kind":"message","seq":100,"set":"5e000000000000000000000000000000","day":20000,"size":3,"sha256":"` +
		fmt.Sprintf("%x", sha256.Sum256(content(0, 3))) + `"}]}`
	// id32(0) is a0 followed by zeros: 64 hex digits.
	want = strings.ReplaceAll(want, "a0000000000000000000000000000000000000000000000000000000000000000", "a0"+strings.Repeat("0", 62))
	if got != want {
		t.Errorf("canonical form:\n got %s\nwant %s", got, want)
	}
	acc := testKey(t, sign.Access, 2)
	got = canonical(t, replies([][]byte{{}}), acc)
	want = `{"version":1,"type":"replies","signer":"` + acc.Public().String() +
		`","replies":[{"id":"10000000000000000000000000000000","source":"a0` + strings.Repeat("0", 62) +
		`","size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}`
	if got != want {
		t.Errorf("canonical form:\n got %s\nwant %s", got, want)
	}
}

func TestManifestRefused(t *testing.T) {
	key := testKey(t, sign.Instance, 1)
	contents := [][]byte{content(0, 3), content(1, 4)}
	good := canonical(t, submissions(contents), key)
	item0 := fmt.Sprintf(`"id":"%x"`, id16(0))
	item1 := fmt.Sprintf(`"id":"%x"`, id16(1))
	src0 := fmt.Sprintf(`"id":"%x"`, id32(0))
	sum0 := fmt.Sprintf("%x", sha256.Sum256(contents[0]))
	repl := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("test bug: %q not in manifest", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	mutate := func(f func(m *Manifest)) string {
		m := submissions(contents)
		f(m)
		return canonical(t, m, key)
	}
	manyItems := func(n int) string {
		var b strings.Builder
		b.WriteString(strings.Split(good, `"items":[`)[0] + `"items":[`)
		one := `{"id":"00000000000000000000000000000000","source":"` + fmt.Sprintf("%x", id32(0)) +
			`","kind":"message","seq":1,"set":"00000000000000000000000000000000","day":1,"size":0,"sha256":"` + strings.Repeat("0", 64) + `"}`
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(one)
		}
		b.WriteString("]}")
		return b.String()
	}
	cases := []struct {
		name     string
		manifest string
		want     error
	}{
		{"duplicate key", repl(`"version":1,`, `"version":1,"version":1,`), ErrMalformedManifest},
		{"duplicate key in item", repl(`"kind":"message",`, `"kind":"message","kind":"file",`), ErrMalformedManifest},
		{"duplicate key, escaped", repl(`"version":1,`, `"version":1,"vers\u0069on":1,`), ErrMalformedManifest},
		{"unknown field", repl(`"version":1,`, `"version":1,"comment":"x",`), ErrMalformedManifest},
		{"unknown field in item", repl(`"kind":"message",`, `"kind":"message","filename":"x",`), ErrMalformedManifest},
		{"case-folded key", repl(`"version":1,`, `"Version":1,`), ErrMalformedManifest},
		{"replies in submissions", repl(`"version":1,`, `"version":1,"replies":[],`), ErrMalformedManifest},
		{"missing field", repl(`"seq":100,`, ``), ErrMalformedManifest},
		{"null", repl(`"sources":[`, `"x":null,"sources":[`), ErrMalformedManifest},
		{"null value", repl(`"after":41`, `"after":null`), ErrMalformedManifest},
		{"float", repl(`"size":3`, `"size":3.0`), ErrMalformedManifest},
		{"exponent", repl(`"size":3`, `"size":3e0`), ErrMalformedManifest},
		{"leading zero", repl(`"size":3`, `"size":03`), ErrMalformedManifest},
		{"string number", repl(`"size":3`, `"size":"3"`), ErrMalformedManifest},
		{"number out of range", repl(`"day":20000`, `"day":4294967296`), ErrMalformedManifest},
		{"huge number", repl(`"size":3`, `"size":99999999999999999999`), ErrMalformedManifest},
		{"trailing data", good + `{}`, ErrMalformedManifest},
		{"trailing space", good + " ", ErrMalformedManifest},
		{"whitespace", repl(`"version":1,`, `"version": 1,`), ErrMalformedManifest},
		{"field order", repl(`"version":1,"type":"submissions",`, `"type":"submissions","version":1,`), ErrMalformedManifest},
		{"invalid UTF-8", repl(testRecipient, testRecipient[:10]+"\xff"+testRecipient[11:]), ErrMalformedManifest},
		{"not JSON", "\x00", ErrMalformedManifest},
		{"array", "[" + good + "]", ErrMalformedManifest},
		{"long string", repl(testRecipient, "age1"+strings.Repeat("q", MaxRecipientSize)), ErrMalformedManifest},
		{"escaped hex", repl(sum0, `\u0030`+sum0[1:]), ErrMalformedManifest},
		{"too many items", manyItems(MaxItems + 1), ErrTooLarge},
		{"huge declared size", repl(`"size":3`, `"size":9223372036854775807`), ErrTooLarge},
		{"sizes summing over the limit", mutate(func(m *Manifest) {
			m.Items[0].Size, m.Items[1].Size = 1<<62, 1<<62
		}), ErrTooLarge},
		{"negative size", repl(`"size":3`, `"size":-3`), ErrInvalidManifest},
		{"unlisted source", repl(`"source":"a0`, `"source":"b0`), ErrInvalidManifest},
		{"duplicate item ID", repl(item1, item0), ErrInvalidManifest},
		{"unsorted items", mutate(func(m *Manifest) {
			m.Items[0], m.Items[1] = m.Items[1], m.Items[0]
		}), ErrInvalidManifest},
		{"unknown kind", repl(`"kind":"message"`, `"kind":"reply"`), ErrInvalidManifest},
		{"upper-case hex", repl(sum0, strings.ToUpper(sum0)), ErrInvalidManifest},
		{"short hex", repl(item0, item0[:len(item0)-3]+`"`), ErrInvalidManifest},
		{"short source ID", repl(src0, src0[:len(src0)-3]+`"`), ErrInvalidManifest},
		{"version 2", repl(`"version":1`, `"version":2`), ErrInvalidManifest},
		{"type replies", repl(`"type":"submissions"`, `"type":"replies"`), ErrInvalidManifest},
		{"other signer", repl(key.Public().String(), testKey(t, sign.Instance, 9).Public().String()), ErrInvalidManifest},
		{"reversed cursors", repl(`"after":41`, `"after":46`), ErrInvalidManifest},
		{"too few cursors", repl(`"up_to":45`, `"up_to":42`), ErrInvalidManifest},
		{"duplicate sequence", mutate(func(m *Manifest) {
			m.Sources = m.Sources[:1]
			m.Items[1].Source, m.Items[1].Seq = m.Items[0].Source, m.Items[0].Seq
		}), ErrInvalidManifest},
		{"bad recipient", repl(testRecipient, "AGE-SECRET-KEY-1XYZ"), ErrInvalidManifest},
		{"source without items", mutate(func(m *Manifest) {
			m.Sources = append(m.Sources, Source{ID: id32(7), ReplyRecipient: testRecipient})
		}), ErrInvalidManifest},
		{"duplicate source", mutate(func(m *Manifest) {
			m.Sources = append(m.Sources, m.Sources[1])
		}), ErrInvalidManifest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := raw(Submissions, key, []byte(tc.manifest), contents...)
			_, _, err := readAll(data, Submissions, TrustKeys(key.Public()), nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), testRecipient) || strings.Contains(err.Error(), fmt.Sprintf("%x", id32(0))) {
				t.Errorf("error %q repeats manifest content", err)
			}
			// The parser alone says the same.
			_, err = parseManifest([]byte(tc.manifest), Submissions, key.Public(), DefaultMaxTotalSize)
			if !errors.Is(err, tc.want) {
				t.Errorf("parseManifest: got %v, want %v", err, tc.want)
			}
		})
	}
	// The unmodified manifest is accepted.
	if _, _, err := readAll(raw(Submissions, key, []byte(good), contents...), Submissions, TrustKeys(key.Public()), nil); err != nil {
		t.Fatal(err)
	}
}

func TestReplyManifestRefused(t *testing.T) {
	key := testKey(t, sign.Access, 2)
	contents := [][]byte{content(0, 3), content(1, 4)}
	good := canonical(t, replies(contents), key)
	repl := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("test bug: %q not in manifest", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		name     string
		manifest string
		want     error
	}{
		{"items in replies", repl(`"replies":[`, `"items":[],"replies":[`), ErrMalformedManifest},
		{"cursor in replies", repl(`"replies":[`, `"after":1,"replies":[`), ErrMalformedManifest},
		{"negative size", repl(`"size":3`, `"size":-1`), ErrInvalidManifest},
		{"duplicate reply", repl(fmt.Sprintf(`"id":"%x"`, id16(1)), fmt.Sprintf(`"id":"%x"`, id16(0))), ErrInvalidManifest},
	}
	for _, tc := range cases {
		data := raw(Replies, key, []byte(tc.manifest), contents...)
		if _, _, err := readAll(data, Replies, TrustKeys(key.Public()), nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := readAll(raw(Replies, key, []byte(good), contents...), Replies, TrustKeys(key.Public()), nil); err != nil {
		t.Fatal(err)
	}
}

func TestWriterRefuses(t *testing.T) {
	inst := testKey(t, sign.Instance, 1)
	acc := testKey(t, sign.Access, 2)
	contents := [][]byte{content(0, 3), content(1, 4)}
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, submissions(contents), acc); err == nil {
		t.Error("submissions bundle signed with an access key")
	}
	if _, err := NewWriter(&buf, replies(contents), inst); err == nil {
		t.Error("reply bundle signed with an instance key")
	}
	m := submissions(contents)
	m.Signer = testKey(t, sign.Instance, 5).Public()
	if _, err := NewWriter(&buf, m, inst); err == nil {
		t.Error("manifest signer differs from the signing key")
	}
	m = submissions(contents)
	m.Items[1].ID = m.Items[0].ID
	if _, err := NewWriter(&buf, m, inst); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("duplicate IDs: got %v", err)
	}
	if _, err := NewWriter(&buf, &Manifest{Type: 4}, acc); !errors.Is(err, ErrWrongType) {
		t.Errorf("type 4: got %v", err)
	}
	if _, err := NewWriter(&buf, &Manifest{Type: Rewraps, Items: submissions(contents).Items}, acc); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("rewrap bundle with submissions items: got %v", err)
	}

	for _, tc := range []struct {
		name  string
		items [][]byte
		want  error
	}{
		{"short item", [][]byte{contents[0][:2]}, ErrItemMismatch},
		{"long item", [][]byte{append(bytes.Clone(contents[0]), 'x')}, ErrItemMismatch},
		{"other bytes", [][]byte{{9, 9, 9}}, ErrItemMismatch},
		{"too few", [][]byte{contents[0]}, ErrIncomplete},
		{"too many", [][]byte{contents[0], contents[1], contents[1]}, ErrIncomplete},
	} {
		w, err := NewWriter(&buf, submissions(contents), inst)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range tc.items {
			if err = w.WriteItem(bytes.NewReader(it)); err != nil {
				break
			}
		}
		if err == nil {
			err = w.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if err2 := w.Close(); !errors.Is(err2, tc.want) {
			t.Errorf("%s: error not sticky: %v", tc.name, err2)
		}
	}
}
