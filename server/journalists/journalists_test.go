package journalists

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"sandyq/crypto/sign"
	"sandyq/server/onion"
	"sandyq/server/store"
)

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func accessKey(t *testing.T, b byte) *sign.PublicKey {
	t.Helper()
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{b}, 32), sign.Access)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func TestRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st := openStore(t, path)
	r, err := Load(st)
	if err != nil {
		t.Fatal(err)
	}
	a, b := accessKey(t, 1), accessKey(t, 2)
	ka, kb := onion.ClientKey{1}, onion.ClientKey{2}
	if _, err := r.Add("alice", a, ka, 100); err != nil {
		t.Fatal(err)
	}
	// Every field must be unused.
	for name, c := range map[string]struct {
		name string
		key  *sign.PublicKey
		auth onion.ClientKey
	}{
		"same name":       {"alice", b, kb},
		"same access key": {"bob", a, kb},
		"same onion key":  {"bob", b, ka},
	} {
		if _, err := r.Add(c.name, c.key, c.auth, 100); !errors.Is(err, ErrExists) {
			t.Errorf("%s: err = %v, want ErrExists", name, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "ä", string(bytes.Repeat([]byte("a"), MaxName+1)), "x\x1b[2J"} {
		if _, err := r.Add(bad, b, kb, 100); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: err = %v, want ErrInvalid", bad, err)
		}
	}
	inst, _ := sign.NewPrivateKey(bytes.Repeat([]byte{3}, 32), sign.Instance)
	if _, err := r.Add("bob", inst.Public(), kb, 100); !errors.Is(err, ErrInvalid) {
		t.Errorf("instance key accepted as an access key: %v", err)
	}
	if _, err := r.Add("bob", b, kb, 101); err != nil {
		t.Fatal(err)
	}
	if err := r.Acknowledge(a, 7, 102); err != nil {
		t.Fatal(err)
	}
	if err := r.Acknowledge(a, 3, 103); err != nil {
		t.Fatal(err)
	}
	if j, ok := r.Lookup(a); !ok || j.Cursor != 7 || j.LastFetch != 103 {
		t.Fatalf("after acks: %+v %v (cursor never decreases)", j, ok)
	}
	if got := r.OnionKeys(); len(got) != 2 || got[0] != ka || got[1] != kb {
		t.Fatalf("OnionKeys = %v", got)
	}
	// Everything survives a reopen.
	st.Close()
	st = openStore(t, path)
	defer st.Close()
	r, err = Load(st)
	if err != nil {
		t.Fatal(err)
	}
	l := r.List()
	if len(l) != 2 || l[0].Name != "alice" || l[0].Cursor != 7 || l[1].Name != "bob" || l[1].Added != 101 || !l[1].Access.Equal(b) {
		t.Fatalf("after reopen: %+v", l)
	}
	// Revoke by name and by key; at once, in memory and on disk.
	if _, err := r.Revoke("alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup(a); ok {
		t.Fatal("revoked key still found")
	}
	if _, err := r.Revoke(b.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Revoke("carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown journalist: err = %v", err)
	}
	if len(r.OnionKeys()) != 0 {
		t.Fatal("revoked onion keys still listed")
	}
	r2, _ := Load(st)
	if len(r2.List()) != 0 {
		t.Fatal("revocations not stored")
	}
}
