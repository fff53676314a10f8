package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

// ebItem is an item of a test bundle made by epochBundle: encrypted to the
// recipients of its own set.
type ebItem struct {
	id      [16]byte
	src     [32]byte
	kind    bundle.Kind
	seq     uint64
	set     *recipients.Signed
	content string
}

// epochBundle writes a submissions bundle of items, each encrypted to its
// set and listed with its set ID, signed by testInstanceKey, to
// dir/name. It returns the path and each item's age file, by item ID.
func epochBundle(t *testing.T, dir, name string, items []ebItem) (string, map[[16]byte][]byte) {
	t.Helper()
	sort.Slice(items, func(i, j int) bool { return bytes.Compare(items[i].id[:], items[j].id[:]) < 0 })
	m := &bundle.Manifest{Type: bundle.Submissions, UpTo: uint64(len(items))}
	cts := map[[16]byte][]byte{}
	srcs := map[[32]byte]bool{}
	for _, it := range items {
		rs, err := it.set.AgeRecipients()
		if err != nil {
			t.Fatal(err)
		}
		h := &envelope.Header{ItemID: it.id, SourceID: it.src, Kind: envelope.Kind(it.kind), Sequence: it.seq}
		if it.kind == bundle.File {
			h.Filename, h.MediaType = "leak.pdf", "application/pdf"
		}
		var buf bytes.Buffer
		w, err := envelope.Seal(&buf, h, rs...)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, it.content)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		cts[it.id] = buf.Bytes()
		m.Items = append(m.Items, bundle.Item{ID: it.id, Source: it.src, Kind: it.kind, Seq: it.seq, SetID: it.set.ID,
			Day: 20500, Size: int64(buf.Len()), SHA256: sha256.Sum256(buf.Bytes())})
		if !srcs[it.src] {
			srcs[it.src] = true
			m.Sources = append(m.Sources, bundle.Source{ID: it.src, ReplyRecipient: testReplyRecipient(t, it.src)})
		}
	}
	sort.Slice(m.Sources, func(i, j int) bool { return bytes.Compare(m.Sources[i].ID[:], m.Sources[j].ID[:]) < 0 })
	var out bytes.Buffer
	w, err := bundle.NewWriter(&out, m, testInstanceKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range m.Items {
		if err := w.WriteItem(bytes.NewReader(cts[it.ID])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, out.Bytes()), cts
}

// epochEnv is a newsroom key and a key directory with a schedule of three
// epochs of 30 days around testNow: past, current, future.
type epochEnv struct {
	dir, keys, newsroomKey, sets string
	newsroom                     *sign.PublicKey
	epochs                       []*recipients.Signed // past, current, future
	setFiles                     []string
}

func newEpochEnv(t *testing.T, e *env, extra ...string) *epochEnv {
	t.Helper()
	ee := &epochEnv{dir: t.TempDir()}
	ee.keys = filepath.Join(ee.dir, "keys")
	ee.newsroomKey = filepath.Join(ee.dir, "newsroom.key")
	ee.sets = filepath.Join(ee.dir, "sets")
	r := runCmd(t, "newsroom", "init", "-o", ee.newsroomKey)
	checkOK(t, r)
	pub, err := sign.ParsePublicKey(r.stdout, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	ee.newsroom = pub
	if e == nil {
		e, _, _ = newEnv()
		seq += 41
		e.rand = &counter{n: seq}
	}
	start := testNow.Add(-45 * 24 * time.Hour).Format(time.RFC3339)
	r = runEnv(t, e, append([]string{"epoch", "schedule", "--keys", ee.keys, "-k", ee.newsroomKey, "-o", ee.sets,
		"--start", start, "--valid", "30d", "--count", "3"}, extra...)...)
	checkOK(t, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("schedule printed %q", r.stdout)
	}
	files, _ := filepath.Glob(filepath.Join(ee.sets, "*.set"))
	sort.Strings(files)
	if len(files) != 3 {
		t.Fatalf("sets written: %v", files)
	}
	for i, f := range files {
		s, err := recipients.Parse(mustRead(t, f), pub)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(lines[i], s.IDString()+"\t") || !strings.Contains(f, s.IDString()) {
			t.Fatalf("epoch %d: line %q, file %s, set %s", i, lines[i], f, s.IDString())
		}
		ee.epochs = append(ee.epochs, s)
		ee.setFiles = append(ee.setFiles, f)
	}
	return ee
}

func TestEpochSchedule(t *testing.T) {
	ee := newEpochEnv(t, nil)
	checkMode(t, ee.keys, 0o700)
	for i, s := range ee.epochs {
		checkMode(t, filepath.Join(ee.keys, s.IDString()+".key"), 0o600)
		checkMode(t, filepath.Join(ee.keys, s.IDString()+".set"), 0o600)
		checkMode(t, ee.setFiles[i], 0o644)
		// Consecutive windows; one fresh post-quantum recipient each, the
		// one of the identity kept for it.
		want := testNow.Add(time.Duration(-45+30*i) * 24 * time.Hour)
		if !s.NotBefore.Equal(want) || !s.NotAfter.Equal(want.Add(30*24*time.Hour)) {
			t.Errorf("epoch %d: window %v–%v", i, s.NotBefore, s.NotAfter)
		}
		ids, err := age.ParseIdentities(bytes.NewReader(mustRead(t, filepath.Join(ee.keys, s.IDString()+".key"))))
		if err != nil || len(ids) != 1 || len(s.Recipients) != 1 ||
			ids[0].(*age.HybridIdentity).Recipient().String() != s.Recipients[0] || s.Kind != recipients.PQ {
			t.Errorf("epoch %d: identity and set do not belong together: %v", i, err)
		}
	}
	if ee.epochs[0].Recipients[0] == ee.epochs[1].Recipients[0] {
		t.Error("two epochs share an identity")
	}
	r := runCmd(t, "epoch", "list", "--keys", ee.keys, "--newsroom-key", ee.newsroom.String())
	checkOK(t, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for i, state := range []string{"past", "current", "future"} {
		if len(lines) != 3 || !strings.HasPrefix(lines[i], ee.epochs[i].IDString()) || !strings.HasSuffix(lines[i], "\t"+state+"\tpresent") {
			t.Fatalf("epoch list:\n%s", r.stdout)
		}
	}
	// Another newsroom key: every set is refused, and said so.
	other := filepath.Join(t.TempDir(), "other.key")
	o := runCmd(t, "newsroom", "init", "-o", other)
	r = runCmd(t, "epoch", "list", "--keys", ee.keys, "--newsroom-key", strings.TrimSpace(o.stdout))
	if r.code != 0 || strings.Count(r.stdout, "\tunknown\t") != 3 || !strings.Contains(r.stderr, "not signed by the newsroom key") {
		t.Errorf("list against another newsroom key: %+v", r)
	}
	// A second schedule into the same -o refuses before touching anything.
	r = runCmd(t, "epoch", "schedule", "--keys", ee.keys, "-k", ee.newsroomKey, "-o", ee.sets, "--count", "2")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("schedule into an existing -o: %+v", r)
	}
	if ents, _ := os.ReadDir(ee.keys); len(ents) != 6 {
		t.Errorf("the key directory has %d files, want 6", len(ents))
	}
}

func TestEpochNew(t *testing.T) {
	dir := t.TempDir()
	nk := filepath.Join(dir, "newsroom.key")
	checkOK(t, runCmd(t, "newsroom", "init", "-o", nk))
	colleague := runCmd(t, "keygen", "-o", filepath.Join(dir, "colleague.age"))
	keys, set := filepath.Join(dir, "keys"), filepath.Join(dir, "set.txt")

	// Bad input changes nothing.
	secret := strings.TrimSpace(strings.Split(string(mustRead(t, filepath.Join(dir, "colleague.age"))), "\n")[2])
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"epoch", "new", "-k", nk, "-o", set}, 2},
		{[]string{"epoch", "new", "--keys", keys, "-o", set}, 2},
		{[]string{"epoch", "new", "--keys", keys, "-k", nk, "-o", set, "--valid", "0d"}, 2},
		{[]string{"epoch", "new", "--keys", keys, "-k", nk, "-o", set, "--start", "tomorrow"}, 2},
		{[]string{"epoch", "new", "--keys", keys, "-k", nk, "-o", set, secret}, 1},
		{[]string{"epoch", "new", "--keys", keys, "-k", filepath.Join(dir, "colleague.age"), "-o", set}, 1},
	} {
		r := runCmd(t, tc.args...)
		if r.code != tc.code || strings.Contains(r.stderr, "AGE-SECRET-KEY") {
			t.Errorf("%q: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
		if _, err := os.Stat(keys); err == nil {
			t.Fatalf("%q created the key directory", tc.args)
		}
	}

	r := runCmd(t, "epoch", "new", "--keys", keys, "-k", nk, "-o", set, "--start", "2026-04-01", "--valid", "14d",
		strings.TrimSpace(colleague.stdout))
	checkOK(t, r)
	id := strings.TrimSpace(r.stdout)
	checkMode(t, keys, 0o700)
	checkMode(t, filepath.Join(keys, id+".key"), 0o600)
	checkMode(t, set, 0o644)
	nkey, _ := os.ReadFile(nk)
	k, _ := sign.ParsePrivateKey(string(nkey), sign.Newsroom)
	s, err := recipients.Parse(mustRead(t, set), k.Public())
	if err != nil || s.IDString() != id || len(s.Recipients) != 2 || s.Recipients[1] != strings.TrimSpace(colleague.stdout) ||
		s.NotBefore.Format(time.DateOnly) != "2026-04-01" || s.NotAfter.Sub(s.NotBefore) != 14*24*time.Hour {
		t.Fatalf("the set: %+v, %v", s, err)
	}
	if !bytes.Equal(mustRead(t, set), mustRead(t, filepath.Join(keys, id+".set"))) {
		t.Error("the key directory's copy of the set differs")
	}
	if r := runCmd(t, "epoch", "new", "--keys", keys, "-k", nk, "-o", set); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("-o that exists: %+v", r)
	}

	// With a passphrase: the identity file is encrypted, and open asks
	// for it.
	e, _, _ := newEnv("pw", "pw")
	r = runEnv(t, e, "epoch", "new", "--keys", keys, "-k", nk, "-o", filepath.Join(dir, "set2.txt"), "--passphrase")
	checkOK(t, r)
	id2 := strings.TrimSpace(r.stdout)
	if data := mustRead(t, filepath.Join(keys, id2+".key")); !bytes.HasPrefix(data, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		t.Errorf("identity file with a passphrase: %q", data[:20])
	}
}

// TestEpochDestroy is the forward-secrecy test of issue 5: once an epoch is
// destroyed, no identity the client holds opens its items, and the items
// of the current epoch still open.
func TestEpochDestroy(t *testing.T) {
	// The identities are protected by a passphrase: open and every other
	// command ask for it once.
	e, _, _ := newEnv("secret pw", "secret pw")
	ee := newEpochEnv(t, e, "--passphrase")
	past, cur := ee.epochs[0], ee.epochs[1]
	src := testSource(1)
	b1, cts := epochBundle(t, ee.dir, "b1.sqb", []ebItem{
		{id: testItemID(1), src: src, kind: bundle.Message, seq: 0, set: past, content: "from the past epoch"},
		{id: testItemID(2), src: src, kind: bundle.File, seq: 1, set: cur, content: "from the current epoch"},
	})
	vpath := filepath.Join(ee.dir, "vault")
	inst := testInstanceKey(t).Public().String()
	open := func(b string, pass ...string) result {
		e, _, _ := newEnv(pass...)
		return runEnv(t, e, "open", "--keys", ee.keys, "-o", vpath, "--instance-key", inst, b)
	}
	if r := open(b1); r.code != 1 || !strings.Contains(r.stderr, "passphrase") {
		t.Fatalf("open without the passphrase: %+v", r)
	}
	if r := open(b1, "wrong", "wrong again"); r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("open with a wrong passphrase: %+v", r)
	}
	r := open(b1, "secret pw")
	checkOK(t, r)
	if strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("open imported:\n%s%s", r.stdout, r.stderr)
	}

	destroy := func(args ...string) result {
		return runCmd(t, append([]string{"epoch", "destroy", "--keys", ee.keys}, args...)...)
	}
	keyFile := func(s *recipients.Signed) string { return filepath.Join(ee.keys, s.IDString()+".key") }
	// Refused: the current epoch; no confirmation; a bundle that lists an
	// item of the epoch the vault lacks; an unknown or short ID.
	b2, cts2 := epochBundle(t, ee.dir, "b2.sqb", []ebItem{
		{id: testItemID(3), src: src, kind: bundle.Message, seq: 2, set: past, content: "late, from the past epoch"},
	})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--yes", cur.IDString()}, 1, "the epoch is current"},
		{[]string{past.IDString()}, 1, "pass --yes"},
		{[]string{"--yes", "--vault", vpath, "--bundle", b1, "--bundle", b2, past.IDString()[:8]}, 1, "1 of the 2 items of the epoch"},
		{[]string{"--yes", "--bundle", b2, past.IDString()}, 2, "go together"},
		{[]string{"--yes", "0123"}, 1, "hex digits"},
		{[]string{"--yes", "ffffffffffff"}, 1, "no such epoch"},
	} {
		r := destroy(tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("destroy %q: exit %d, want %d with %q:\n%s", tc.args, r.code, tc.code, tc.want, r.stderr)
		}
	}
	for _, s := range ee.epochs {
		if _, err := os.Stat(keyFile(s)); err != nil {
			t.Fatalf("a refused destroy removed an identity: %v", err)
		}
	}
	// Once everything of the epoch is imported, it goes.
	checkOK(t, open(b2, "secret pw"))
	r = destroy("--yes", "--vault", vpath, "--bundle", b1, "--bundle", b2, past.IDString()[:10])
	checkOK(t, r)
	if !strings.Contains(r.stderr, "all 2 items of the epoch in the bundles are in the vault") || !strings.Contains(r.stderr, "flash storage") {
		t.Errorf("destroy said:\n%s", r.stderr)
	}
	if _, err := os.Lstat(keyFile(past)); !os.IsNotExist(err) {
		t.Fatalf("the identity file is still there: %v", err)
	}
	if r := destroy("--yes", past.IDString()); r.code != 1 || !strings.Contains(r.stderr, "already destroyed") {
		t.Errorf("destroying twice: %+v", r)
	}
	r = runCmd(t, "epoch", "list", "--keys", ee.keys)
	if !strings.Contains(r.stdout, past.IDString()) || !strings.Contains(r.stdout, "\tpast\tdestroyed\n") {
		t.Errorf("epoch list after destroy:\n%s", r.stdout)
	}

	// Every identity the client holds, tried on each item.
	e, _, _ = newEnv("secret pw")
	ids, err := readKeyDir(e, ee.keys)
	if err != nil || len(ids) != 2 {
		t.Fatalf("identities left: %d, %v", len(ids), err)
	}
	var nm *age.NoIdentityMatchError
	for _, ct := range [][]byte{cts[testItemID(1)], cts2[testItemID(3)]} {
		if _, err := age.Decrypt(bytes.NewReader(ct), ids...); !errors.As(err, &nm) {
			t.Errorf("an item of the destroyed epoch: %v, want no identity matched", err)
		}
	}
	if _, err := envelope.Open(bytes.NewReader(cts[testItemID(2)]), ids...); err != nil {
		t.Errorf("an item of the current epoch: %v", err)
	}
	// And through open: a fresh vault gets the current item only.
	vpath = filepath.Join(ee.dir, "vault2")
	r = open(b1, "secret pw")
	checkOK(t, r)
	id1, id2 := testItemID(1), testItemID(2)
	if !strings.Contains(r.stdout, hex.EncodeToString(id2[:])) || strings.Contains(r.stdout, hex.EncodeToString(id1[:])) ||
		!strings.Contains(r.stderr, hex.EncodeToString(id1[:])+": the identity cannot decrypt it") {
		t.Errorf("open after destroy:\n%s%s", r.stdout, r.stderr)
	}
}

func TestOpenSeveralIdentities(t *testing.T) {
	dir := t.TempDir()
	var ids []string
	var sets []*recipients.Signed
	nk := filepath.Join(dir, "newsroom.key")
	checkOK(t, runCmd(t, "newsroom", "init", "-o", nk))
	for i := range 2 {
		p := filepath.Join(dir, "id"+string(rune('a'+i)))
		r := runCmd(t, "keygen", "-o", p)
		checkOK(t, r)
		ids = append(ids, p)
		s, err := recipients.NewSet(&counter{n: byte(i)}, []string{strings.TrimSpace(r.stdout)}, testNow, testNow.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		s.ID[0] = byte(i)
		k, _ := sign.ParsePrivateKey(string(mustRead(t, nk)), sign.Newsroom)
		raw, _ := s.Sign(k)
		signed, err := recipients.Parse(raw, k.Public())
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, signed)
	}
	b, _ := epochBundle(t, dir, "b.sqb", []ebItem{
		{id: testItemID(1), src: testSource(1), kind: bundle.Message, seq: 0, set: sets[0], content: "one"},
		{id: testItemID(2), src: testSource(1), kind: bundle.Message, seq: 1, set: sets[1], content: "two"},
	})
	r := runCmd(t, "open", "-i", ids[0], "-i", ids[1], "-o", filepath.Join(dir, "v"), "--instance-key", testInstanceKey(t).Public().String(), b)
	checkOK(t, r)
	if strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("open with two -i:\n%s%s", r.stdout, r.stderr)
	}
	if r := runCmd(t, "open", "-o", filepath.Join(dir, "w"), b); r.code != 2 || !strings.Contains(r.stderr, "--keys") {
		t.Errorf("open without identities: %+v", r)
	}
}

func TestEpochRewrapUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"epoch"},
		{"epoch", "nope"},
		{"epoch", "new"},
		{"epoch", "schedule", "--keys", filepath.Join(dir, "k"), "-k", "x", "-o", filepath.Join(dir, "o")},
		{"epoch", "schedule", "--keys", filepath.Join(dir, "k"), "-k", "x", "-o", filepath.Join(dir, "o"), "--count", "121"},
		{"epoch", "list"},
		{"epoch", "list", "--keys", filepath.Join(dir, "k"), "extra"},
		{"epoch", "destroy", "--keys", filepath.Join(dir, "k")},
		{"rewrap"},
		{"rewrap", "--keys", filepath.Join(dir, "k"), "--vault", "v", "--recipients", "s", "--newsroom-key", "p",
			"--access-key", "a", "-o", filepath.Join(dir, "o"), "--set", "00"},
	} {
		r := runCmd(t, args...)
		if r.code != 2 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created: %v", entries)
	}
	for _, args := range [][]string{
		{"epoch", "-h"}, {"epoch", "new", "-h"}, {"epoch", "schedule", "-h"}, {"epoch", "list", "-h"},
		{"epoch", "destroy", "-h"}, {"rewrap", "-h"}, {"open", "-h"},
	} {
		r := runCmd(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage") || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	if r := runCmd(t, "epoch", "destroy", "-h"); !strings.Contains(r.stdout, "Flash storage") || !strings.Contains(r.stdout, "full-disk encryption") {
		t.Error("epoch destroy -h does not say what flash storage keeps")
	}
}
