package vault

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/bundle"
)

func srcHex(n byte) string {
	s := srcID(n)
	return hex.EncodeToString(s[:])
}

func TestSourceRecipient(t *testing.T) {
	id := testIdentity(t)
	items := []testItem{
		{kind: bundle.Message, source: 1, seq: 0, content: []byte("a")},
		{kind: bundle.Message, source: 2, seq: 0, content: []byte("b")},
	}
	v, dir := newVault(t)
	rep, err := v.Import(reader(t, makeBundleOpts(t, id, items, bundleOpts{upTo: 10})), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.NewRecipients, []string{srcHex(1), srcHex(2)}) || len(rep.ChangedRecipients) != 0 {
		t.Fatalf("report: new %v, changed %v", rep.NewRecipients, rep.ChangedRecipients)
	}
	for _, n := range []byte{1, 2} {
		info, err := v.Source(srcHex(n))
		if err != nil {
			t.Fatal(err)
		}
		if info.ReplyRecipient != replyRecipient(t, n) || info.Items != 1 || info.ID != srcHex(n) {
			t.Errorf("source %d: %+v", n, info)
		}
		checkFileMode(t, filepath.Join(dir, srcHex(n), ".meta", "source.json"), 0o600)
	}

	// A newer bundle with another recipient for source 1: it wins, and the
	// report says it changed.
	other := replyRecipient(t, 9)
	rep, err = v.Import(reader(t, makeBundleOpts(t, id, items[:1], bundleOpts{upTo: 20, recipients: map[byte]string{1: other}})), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.ChangedRecipients, []string{srcHex(1)}) || len(rep.NewRecipients) != 0 {
		t.Fatalf("report: new %v, changed %v", rep.NewRecipients, rep.ChangedRecipients)
	}
	if info, _ := v.Source(srcHex(1)); info.ReplyRecipient != other {
		t.Errorf("newer bundle did not win: %q", info.ReplyRecipient)
	}

	// An older bundle opened again does not undo it.
	rep, err = v.Import(reader(t, makeBundleOpts(t, id, items[:1], bundleOpts{upTo: 10})), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.ChangedRecipients) != 0 {
		t.Errorf("older bundle reported a change: %v", rep.ChangedRecipients)
	}
	if info, _ := v.Source(srcHex(1)); info.ReplyRecipient != other {
		t.Errorf("older bundle replaced the recipient: %q", info.ReplyRecipient)
	}
	// The same cursor again: the newest import wins.
	if _, err := v.Import(reader(t, makeBundleOpts(t, id, items[:1], bundleOpts{upTo: 20})), []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	if info, _ := v.Source(srcHex(1)); info.ReplyRecipient != replyRecipient(t, 1) {
		t.Errorf("same cursor: %q", info.ReplyRecipient)
	}
	for p := range walk(t, dir) {
		if strings.Contains(p, tmpPrefix) {
			t.Errorf("temporary file left: %q", p)
		}
	}
}

func TestBadRecipient(t *testing.T) {
	id := testIdentity(t)
	x := testIdentity(t) // a classic X25519 recipient is a valid one
	for _, bad := range []string{
		"age1notarecipient",
		"age1pq1" + strings.Repeat("q", 100),
		strings.ToLower(x.Recipient().String()[:20]),
	} {
		items := []testItem{
			{kind: bundle.Message, source: 1, seq: 0, content: []byte("a")},
			{kind: bundle.Message, source: 2, seq: 0, content: []byte("b")},
		}
		b := makeBundleOpts(t, id, items, bundleOpts{recipients: map[byte]string{1: x.Recipient().String(), 2: bad}})
		v, dir := newVault(t)
		rep, err := v.Import(reader(t, b), []age.Identity{id})
		if !errors.Is(err, ErrBadRecipient) {
			t.Fatalf("%q: err = %v", bad, err)
		}
		t.Log(err)
		msg := err.Error()
		if !strings.Contains(msg, srcHex(2)[:8]) || strings.Contains(msg, srcHex(2)[:9]) || strings.Contains(msg, bad) {
			t.Errorf("error must name the source by 8 hex digits only: %v", err)
		}
		if len(rep.Imported) != 0 {
			t.Errorf("imported %d items", len(rep.Imported))
		}
		onlyPaths(t, dir, []string{"."})
	}
}

func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		seqs []uint64
		want []SeqRange
	}{
		{nil, nil},
		{[]uint64{0}, nil},
		{[]uint64{2, 0, 1}, nil},
		{[]uint64{1}, []SeqRange{{0, 0}}},
		{[]uint64{5, 0, 2, 2, 9}, []SeqRange{{1, 1}, {3, 4}, {6, 8}}},
		{[]uint64{math.MaxUint64, math.MaxUint64}, []SeqRange{{0, math.MaxUint64 - 1}}},
		{[]uint64{0, math.MaxUint64}, []SeqRange{{1, math.MaxUint64 - 1}}},
	} {
		if got := Gaps(tc.seqs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Gaps(%v) = %v, want %v", tc.seqs, got, tc.want)
		}
	}
	if s := (SeqRange{3, 3}).String() + " " + (SeqRange{3, 7}).String(); s != "3 3-7" {
		t.Errorf("String: %q", s)
	}
}

func TestSourcesAndGaps(t *testing.T) {
	id := testIdentity(t)
	v, _ := newVault(t)
	b := makeBundle(t, id, []testItem{
		{kind: bundle.Message, source: 1, seq: 1, content: []byte("a")},
		{kind: bundle.Message, source: 1, seq: 4, content: []byte("b")},
		{kind: bundle.Message, source: 2, seq: 0, content: []byte("c")},
	})
	if _, err := v.Import(reader(t, b), []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	srcs, err := v.Sources()
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 {
		t.Fatalf("%d sources", len(srcs))
	}
	if s := srcs[0]; s.ID != srcHex(1) || s.Items != 2 || !reflect.DeepEqual(s.Gaps, []SeqRange{{0, 0}, {2, 3}}) {
		t.Errorf("source 1: %+v", s)
	}
	if s := srcs[1]; s.ID != srcHex(2) || s.Items != 1 || s.Gaps != nil || s.ReplyRecipient == "" {
		t.Errorf("source 2: %+v", s)
	}
}

func TestPrefixes(t *testing.T) {
	id := testIdentity(t)
	v, _ := newVault(t)
	b := makeBundle(t, id, []testItem{
		{kind: bundle.Message, source: 1, seq: 0, content: []byte("one")},
		{kind: bundle.Message, source: 2, seq: 0, content: []byte("two")},
	})
	if _, err := v.Import(reader(t, b), []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	// Items 1001…01 and 1002…02; sources a001…01 and a002…02.
	for _, tc := range []struct {
		item string
		want error
	}{
		{idHex(1), nil},
		{strings.ToUpper(idHex(2)), nil},
		{idHex(2)[:8], nil},
		{idHex(2)[:31], nil},
		{idHex(1)[:2] + "00", ErrNotFound},
		{"1000000000", ErrNotFound},
		{idHex(1)[:7], ErrNotFound},
		{"", ErrNotFound},
		{"1000000g", ErrNotFound},
		{idHex(1) + "0", ErrNotFound},
		{"ffffffff", ErrNotFound},
		{"../../etc", ErrNotFound},
	} {
		e, err := v.Entry(tc.item)
		if !errors.Is(err, tc.want) || err == nil && !strings.HasPrefix(e.ItemID, strings.ToLower(tc.item)) {
			t.Errorf("Entry(%q) = %v, %v; want %v", tc.item, e, err, tc.want)
		}
	}
	for _, tc := range []struct {
		src  string
		want error
	}{
		{srcHex(1), nil},
		{srcHex(2)[:63], nil},
		{srcHex(2)[:8], nil},
		{srcHex(1)[:7], ErrNotFound},
		{"bbbbbbbb", ErrNotFound},
		{srcHex(1) + "0", ErrNotFound},
	} {
		s, err := v.Source(tc.src)
		if !errors.Is(err, tc.want) || err == nil && !strings.HasPrefix(s.ID, tc.src) {
			t.Errorf("Source(%q) = %v, %v; want %v", tc.src, s, err, tc.want)
		}
	}
	var out bytes.Buffer
	if err := v.Show(idHex(2)[:8], &out); err != nil || !strings.Contains(out.String(), "two") {
		t.Errorf("show by prefix: %v %q", err, out.String())
	}
}

// TestAmbiguousPrefix: a prefix that two items or sources share names
// neither.
func TestAmbiguousPrefix(t *testing.T) {
	id := testIdentity(t)
	v, dir := newVault(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.Message, source: 1, seq: 0, content: []byte("one")}})
	if _, err := v.Import(reader(t, b), []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	// A second source directory and item record sharing 8-digit prefixes.
	e, _ := v.Entry(idHex(1))
	twinSrc := srcHex(1)[:8] + strings.Repeat("f", 56)
	twinItem := idHex(1)[:8] + strings.Repeat("f", 24)
	os.MkdirAll(filepath.Join(dir, twinSrc, ".meta"), 0o700)
	twin := *e
	twin.ItemID, twin.SourceID = twinItem, twinSrc
	data, _ := encodeRecord(&twin)
	os.WriteFile(filepath.Join(dir, twinSrc, ".meta", twinItem+".json"), data, 0o600)
	if _, err := v.Entry(idHex(1)[:8]); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("item: %v", err)
	}
	if _, err := v.Source(srcHex(1)[:8]); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("source: %v", err)
	}
	if e, err := v.Entry(idHex(1)[:9]); err != nil || e.ItemID != idHex(1) {
		t.Errorf("longer prefix: %v", err)
	}
}

func TestRecordReply(t *testing.T) {
	id := testIdentity(t)
	v, dir := newVault(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.Message, source: 1, seq: 0, content: []byte("a")}})
	if _, err := v.Import(reader(t, b), []age.Identity{id}); err != nil {
		t.Fatal(err)
	}
	r1, r2 := [16]byte{0xee, 2}, [16]byte{0xee, 1}
	if err := v.RecordReply(srcID(1), r1, 20001); err != nil {
		t.Fatal(err)
	}
	if err := v.RecordReply(srcID(1), r2, 20000); err != nil {
		t.Fatal(err)
	}
	if err := v.RecordReply(srcID(1), r2, 20000); err == nil {
		t.Error("a reply ID was recorded twice")
	}
	if err := v.RecordReply(srcID(7), r2, 20000); !errors.Is(err, ErrNotFound) {
		t.Errorf("reply to an unknown source: %v", err)
	}
	info, err := v.Source(srcHex(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Replies) != 2 || info.Replies[0].ReplyID != hex.EncodeToString(r2[:]) ||
		info.Replies[1].Date() != "2024-10-05" {
		t.Errorf("replies: %+v", info.Replies)
	}
	p := filepath.Join(dir, srcHex(1), ".meta", "reply-"+hex.EncodeToString(r1[:])+".json")
	checkFileMode(t, p, 0o600)
	// Reply records are not items.
	if l, _ := v.List(); len(l) != 1 {
		t.Errorf("list: %d entries", len(l))
	}
}

// TestStrictRecords tampers with the records of a vault: anything but the
// exact bytes this package writes is refused.
func TestStrictRecords(t *testing.T) {
	id := testIdentity(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.File, source: 1, seq: 0, filename: "a.txt", content: []byte("a")}})
	for _, tc := range []struct {
		name   string
		file   string // relative to the source's .meta
		change func(string) string
	}{
		{"item: unknown field", idHex(1) + ".json", func(s string) string { return strings.Replace(s, "{", "{\n  \"x\": 1,", 1) }},
		{"item: duplicate key", idHex(1) + ".json", func(s string) string {
			return strings.Replace(s, "{", "{\n  \"name\": \"../../../etc/passwd\",", 1)
		}},
		{"item: trailing data", idHex(1) + ".json", func(s string) string { return s + "}" }},
		{"item: other white space", idHex(1) + ".json", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
		{"item: unsafe name", idHex(1) + ".json", func(s string) string { return strings.Replace(s, `"0-a.txt"`, `"../../x"`, 1) }},
		{"item: invalid UTF-8", idHex(1) + ".json", func(s string) string { return strings.Replace(s, `"0-a.txt"`, "\"0-a\xff.txt\"", 1) }},
		{"source: duplicate key", "source.json", func(s string) string {
			return strings.Replace(s, "{", "{\n  \"reply_recipient\": \"age1x\",", 1)
		}},
		{"source: bad recipient", "source.json", func(s string) string { return strings.Replace(s, "age1pq1", "age1pq2", 1) }},
		{"source: other source", "source.json", func(s string) string { return strings.Replace(s, `"a0`, `"b0`, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, dir := newVault(t)
			if _, err := v.Import(reader(t, b), []age.Identity{id}); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, srcHex(1), ".meta", tc.file)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			changed := tc.change(string(data))
			if changed == string(data) {
				t.Fatal("test did not change the record")
			}
			os.WriteFile(p, []byte(changed), 0o600)
			var err1, err2 error
			if strings.HasPrefix(tc.name, "item") {
				_, err1 = v.List()
				_, err2 = v.Entry(idHex(1))
			} else {
				_, err1 = v.Sources()
				_, err2 = v.Source(srcHex(1))
			}
			for _, err := range []error{err1, err2} {
				if !errors.Is(err, ErrBadRecord) {
					t.Errorf("err = %v, want ErrBadRecord", err)
				}
			}
			t.Log(err1)
		})
	}
}

func checkFileMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode(), want)
	}
}
