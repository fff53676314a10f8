package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/accesskey"
	"sandyq/client/bundle"
	"sandyq/crypto/envelope"
)

// TestRewrap re-encrypts items of a past epoch to the current one,
// checks the bundle, then destroys the past epoch: the rewrapped items
// still open with the key directory, the originals do not.
func TestRewrap(t *testing.T) {
	ee := newEpochEnv(t, nil)
	past, cur := ee.epochs[0], ee.epochs[1]
	src := testSource(2)
	b, cts := epochBundle(t, ee.dir, "b.sqb", []ebItem{
		{id: testItemID(1), src: src, kind: bundle.Message, seq: 0, set: past, content: "a message"},
		{id: testItemID(2), src: src, kind: bundle.File, seq: 1, set: past, content: "%PDF-1.4 a file"},
		{id: testItemID(3), src: src, kind: bundle.Message, seq: 2, set: cur, content: "a current message"},
	})
	vpath := filepath.Join(ee.dir, "vault")
	checkOK(t, runCmd(t, "open", "--keys", ee.keys, "-o", vpath, "--instance-key", testInstanceKey(t).Public().String(), b))
	ak := filepath.Join(ee.dir, "access.key")
	checkOK(t, runCmd(t, "access-key", "-o", ak))
	akey, err := accesskey.Parse(string(mustRead(t, ak)))
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := testItemID(1), testItemID(2)
	hex1, hex2 := hex.EncodeToString(id1[:]), hex.EncodeToString(id2[:])
	out := filepath.Join(ee.dir, "rewrap.sqb")
	args := func(o string, extra ...string) []string {
		return append([]string{"rewrap", "--keys", ee.keys, "--vault", vpath, "--recipients", ee.setFiles[1],
			"--newsroom-key", ee.newsroom.String(), "--access-key", ak, "-o", o}, extra...)
	}

	// Refusals write nothing.
	other := filepath.Join(ee.dir, "other.age")
	checkOK(t, runCmd(t, "keygen", "-o", other))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no items", args(out), 2, "no ITEM"},
		{"unknown item", args(out, hex1, "ffffffff"), 1, "not in the vault"},
		{"expired set", append(args(out, hex1)[:6], append([]string{ee.setFiles[0]}, args(out, hex1)[7:]...)...), 1, "expired"},
		{"identity not of the set", []string{"rewrap", "-i", other, "--vault", vpath, "--recipients", ee.setFiles[1],
			"--newsroom-key", ee.newsroom.String(), "--access-key", ak, "-o", out, hex1}, 1, "cannot open the rewrapped item"},
		{"set not signed by the newsroom key", append(args(out, hex1)[:8], append([]string{testInstanceKey(t).Public().String()}, args(out, hex1)[9:]...)...), 1, "newsroom"},
	} {
		r := runCmd(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tc.name, r.code, tc.code, tc.want, r.stderr)
		}
		if ents, _ := filepath.Glob(filepath.Join(ee.dir, "*rewrap*")); len(ents) != 0 {
			t.Fatalf("%s: left %v", tc.name, ents)
		}
	}

	// By item ID, in any order.
	r := runCmd(t, args(out, hex2, hex1)...)
	checkOK(t, r)
	checkMode(t, out, 0o600)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], hex1+"\t") {
		t.Fatalf("rewrap printed %q", r.stdout)
	}
	if ents, _ := filepath.Glob(filepath.Join(ee.dir, ".sandyq-rewrap-*")); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
	if r := runCmd(t, args(out, hex1)...); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("-o that exists: %+v", r)
	}

	// The same items, by set and bundle.
	out2 := filepath.Join(ee.dir, "rewrap2.sqb")
	r = runCmd(t, args(out2, "--set", past.IDString(), "--bundle", b)...)
	checkOK(t, r)
	if strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("rewrap --set printed %q", r.stdout)
	}

	// Destroy the past epoch; what the key directory holds opens the
	// rewrapped items (encrypted to the current set, with their original
	// header), not the originals.
	checkOK(t, runCmd(t, "epoch", "destroy", "--keys", ee.keys, "--yes", "--vault", vpath, "--bundle", b, past.IDString()))
	e, _, _ := newEnv()
	ids, err := readKeyDir(e, ee.keys)
	if err != nil {
		t.Fatal(err)
	}
	var nm *age.NoIdentityMatchError
	for _, id := range [][16]byte{id1, id2} {
		if _, err := age.Decrypt(bytes.NewReader(cts[id]), ids...); !errors.As(err, &nm) {
			t.Errorf("original %x after destroy: %v", id[:2], err)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := bundle.NewReader(f, bundle.Rewraps, bundle.TrustKeys(akey.Access.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[16]byte]struct {
		h       envelope.Header
		content string
	}{
		id1: {envelope.Header{ItemID: id1, SourceID: src, Kind: envelope.Message, Sequence: 0}, "a message"},
		id2: {envelope.Header{ItemID: id2, SourceID: src, Kind: envelope.File, Sequence: 1, Filename: "leak.pdf", MediaType: "application/pdf"}, "%PDF-1.4 a file"},
	}
	n := 0
	for {
		ent, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m := br.Manifest().Rewraps[ent.Index]
		if m.SetID != cur.ID || m.Source != src {
			t.Errorf("item %x: set or source in the manifest", ent.ID[:2])
		}
		er, err := envelope.Open(item, ids...)
		if err != nil {
			t.Fatalf("rewrapped item %x: %v", ent.ID[:2], err)
		}
		w := want[ent.ID]
		if err := er.Header.Matches(&w.h); err != nil {
			t.Errorf("rewrapped item %x: %v", ent.ID[:2], err)
		}
		c, err := io.ReadAll(er)
		if err != nil || string(c) != w.content {
			t.Errorf("rewrapped item %x: content %q, %v", ent.ID[:2], c, err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d items in the rewrap bundle", n)
	}
}
