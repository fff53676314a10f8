package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/client/accesskey"
	"sandyq/client/bundle"
	"sandyq/client/rewrap"
	"sandyq/client/vault"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

// TestPushRewrapDev submits an item to a real server in development mode,
// fetches it, rewraps it offline (package client/rewrap, from a vault) to
// a second recipient set installed while serving, pushes the rewrap
// bundle, and fetches it again: the item now opens with the new set's
// identity only, with its original header.
func TestPushRewrapDev(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	oldID, newsroom := newsroomSetup(t, bin, dir, work)
	_, aliceKey, alicePub := writeKey(t, work, "alice")
	bob, _, _ := writeKey(t, work, "bob")
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "journalist", "add", "alice", alicePub); code != 0 {
		t.Fatalf("add alice: %s", stderr)
	}
	srv, srcURL, japiURL := devServe(t, bin, dir)
	if _, stderr, code := sandyqRun(t, bin, "submit", "--dev", "--server", srcURL, "--newsroom-key",
		newsroom.Public().String(), "-m", "a tip to keep"); code != 0 {
		t.Fatalf("submit: %s", stderr)
	}
	// The next epoch's set, installed while serving.
	newID, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set, err := recipients.NewSet(rand.Reader, []string{newID.Recipient().String()}, now.Add(-time.Minute), now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := set.Sign(newsroom)
	setFile := filepath.Join(work, "set2.txt")
	os.WriteFile(setFile, raw, 0o600)
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "recipients", "install", setFile); code != 0 {
		t.Fatalf("install the second set: %s", stderr)
	}
	signed, err := recipients.Parse(raw, newsroom.Public())
	if err != nil {
		t.Fatal(err)
	}

	fetch := func(out string, extra ...string) *bundle.Reader {
		t.Helper()
		args := append([]string{"fetch", "--dev", "--server", japiURL, "--access-key", aliceKey, "-o", out}, extra...)
		if _, stderr, code := sandyqRun(t, bin, args...); code != 0 {
			t.Fatalf("fetch: %s", stderr)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		r, err := bundle.NewReader(f, bundle.Submissions, func(*sign.PublicKey) error { return nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	br := fetch(filepath.Join(work, "1.sqb"))
	if len(br.Manifest().Items) != 1 {
		t.Fatalf("%d items fetched", len(br.Manifest().Items))
	}
	item := br.Manifest().Items[0]
	v, err := vault.Open(filepath.Join(work, "vault"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if rep, err := v.Import(br, []age.Identity{oldID}); err != nil || len(rep.Imported) != 1 {
		t.Fatalf("import: %v", err)
	}

	b, err := rewrap.New(v, signed, []age.Identity{newID}, work)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Add(rep0(t, v)); err != nil {
		t.Fatal(err)
	}
	ak, _ := accesskey.Parse(string(mustReadFile(t, aliceKey)))
	write := func(name string, k *sign.PrivateKey) string {
		var buf bytes.Buffer
		if _, err := b.WriteBundle(&buf, k); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(work, name)
		os.WriteFile(p, buf.Bytes(), 0o600)
		return p
	}
	mine, bobs := write("rewrap.sqb", ak.Access), write("bob-rewrap.sqb", bob.Access)
	push := func(p string) (string, int) {
		_, stderr, code := sandyqRun(t, bin, "push", "--dev", "--server", japiURL, "--access-key", aliceKey, p)
		return stderr, code
	}
	if stderr, code := push(bobs); code != 1 || !strings.Contains(stderr, "rewrap bundle does not verify") {
		t.Fatalf("push of another journalist's rewrap bundle: exit %d\n%s", code, stderr)
	}
	if stderr, code := push(filepath.Join(work, "1.sqb")); code != 1 || !strings.Contains(stderr, "cannot be pushed") {
		t.Fatalf("push of a submissions bundle: exit %d\n%s", code, stderr)
	}
	for i, want := range []string{"replaced the ciphertext of 1 of 1 items (0 already", "replaced the ciphertext of 0 of 1 items (1 already"} {
		if stderr, code := push(mine); code != 0 || !strings.Contains(stderr, want) {
			t.Fatalf("push %d: exit %d\n%s", i+1, code, stderr)
		}
	}

	// Fetched again from the start: the new set's ID, a ciphertext only the
	// new identity opens, the same header.
	br = fetch(filepath.Join(work, "2.sqb"), "--after", "0")
	m := br.Manifest()
	if len(m.Items) != 1 || m.Items[0].ID != item.ID || m.Items[0].SetID != set.ID || m.Items[0].Seq != item.Seq {
		t.Fatalf("after the rewrap the manifest says %+v", m.Items)
	}
	_, r, err := br.Next()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var nm *age.NoIdentityMatchError
	if _, err := age.Decrypt(bytes.NewReader(ct), oldID); !errors.As(err, &nm) {
		t.Errorf("the old identity on the rewrapped item: %v", err)
	}
	er, err := envelope.Open(bytes.NewReader(ct), newID)
	if err != nil {
		t.Fatal(err)
	}
	want := &envelope.Header{ItemID: item.ID, SourceID: item.Source, Kind: envelope.Message, Sequence: item.Seq}
	if err := er.Header.Matches(want); err != nil {
		t.Fatal(err)
	}
	if c, _ := io.ReadAll(er); string(c) != "a tip to keep" {
		t.Fatalf("content %q", c)
	}
	srv.stop(t)
}

// rep0 returns the ID of the only item of the vault.
func rep0(t *testing.T, v *vault.Vault) string {
	t.Helper()
	es, err := v.List()
	if err != nil || len(es) != 1 {
		t.Fatalf("vault list: %d, %v", len(es), err)
	}
	return es[0].ItemID
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
