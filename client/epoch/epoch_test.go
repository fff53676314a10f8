package epoch

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"sandyq/crypto/agekey"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newsroom(t testing.TB) *sign.PrivateKey {
	t.Helper()
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{7}, 32), sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// addEpoch makes an identity and a set of it valid [nb, nb+30d), stores
// both, and returns the set and the identity.
func addEpoch(t *testing.T, d *Dir, nb time.Time, pass string) (*recipients.Signed, *age.HybridIdentity) {
	t.Helper()
	id, err := agekey.GenerateHybrid(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, nb, nb.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := set.Sign(newsroom(t))
	if err != nil {
		t.Fatal(err)
	}
	file := []byte(fmt.Sprintf("# created: 2026-01-01\n# public key: %s\n%s\n", id.Recipient(), id))
	if pass != "" {
		file = encrypt(t, file, pass)
	}
	if err := d.Add(set.ID, raw, file); err != nil {
		t.Fatal(err)
	}
	s, err := recipients.Parse(raw, newsroom(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	return s, id
}

func encrypt(t *testing.T, data []byte, pass string) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var buf bytes.Buffer
	a := armor.NewWriter(&buf)
	w, _ := age.Encrypt(a, r)
	w.Write(data)
	w.Close()
	a.Close()
	return buf.Bytes()
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestAddListDestroy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	d, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if m := mode(t, path); m != 0o700 {
		t.Errorf("key directory mode %v", m)
	}
	past, pastID := addEpoch(t, d, t0, "")
	cur, _ := addEpoch(t, d, t0.Add(30*24*time.Hour), "correct horse")
	next, _ := addEpoch(t, d, t0.Add(60*24*time.Hour), "")
	for _, s := range []*recipients.Signed{past, cur, next} {
		for _, suffix := range []string{".key", ".set"} {
			if m := mode(t, filepath.Join(path, s.IDString()+suffix)); m != 0o600 {
				t.Errorf("%s%s: mode %v", s.IDString()[:8], suffix, m)
			}
		}
	}
	if err := d.Add(past.ID, past.Raw, []byte("x")); !errors.Is(err, ErrExists) {
		t.Errorf("adding an epoch twice: %v", err)
	}
	// A file of another name is ignored.
	os.WriteFile(filepath.Join(path, "notes.txt"), []byte("hi"), 0o600)

	now := t0.Add(45 * 24 * time.Hour)
	for _, nk := range []*sign.PublicKey{nil, newsroom(t).Public()} {
		es, err := d.List(nk)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 3 {
			t.Fatalf("%d epochs listed", len(es))
		}
		for i, want := range []struct {
			s     *recipients.Signed
			state string
		}{{past, "past"}, {cur, "current"}, {next, "future"}} {
			e := es[i]
			if e.ID != want.s.IDString() || e.Set == nil || !e.Identity || e.NotInSet || e.State(now) != want.state {
				t.Errorf("epoch %d: %+v (%s), want %s %s", i, e, e.State(now), want.s.IDString(), want.state)
			}
		}
	}
	// Another newsroom key: the sets do not verify.
	other, _ := sign.NewPrivateKey(bytes.Repeat([]byte{8}, 32), sign.Newsroom)
	es, _ := d.List(other.Public())
	if es[0].Set != nil || !errors.Is(es[0].SetErr, recipients.ErrWrongSigner) {
		t.Errorf("a set listed against another newsroom key: %+v", es[0])
	}

	// The encrypted identity needs its passphrase.
	data, err := d.IdentityFile(cur.IDString())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseIdentity(data, func() (string, error) { return "wrong", nil }); !errors.Is(err, ErrPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if ids, err := ParseIdentity(data, func() (string, error) { return "correct horse", nil }); err != nil || len(ids) != 1 {
		t.Errorf("right passphrase: %v", err)
	}

	// Prefixes.
	if id, err := d.Find(strings.ToUpper(past.IDString()[:8])); err != nil || id != past.IDString() {
		t.Errorf("Find by prefix: %q, %v", id, err)
	}
	for _, bad := range []string{"abc", "zzzzzzzz", "0000000000000000000000000000000000"} {
		if _, err := d.Find(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q): %v", bad, err)
		}
	}

	// Destroy the past epoch: its identity file is gone, its set stays.
	keyPath := filepath.Join(path, past.IDString()+".key")
	if err := d.Destroy(past.IDString()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(keyPath); !os.IsNotExist(err) {
		t.Fatalf("identity file still there: %v", err)
	}
	es, _ = d.List(nil)
	if es[0].ID != past.IDString() || es[0].Identity || es[0].Set == nil {
		t.Errorf("destroyed epoch listed as %+v", es[0])
	}
	if _, err := d.IdentityFile(past.IDString()); !errors.Is(err, ErrNotFound) {
		t.Errorf("identity of a destroyed epoch: %v", err)
	}
	if err := d.Destroy(past.IDString()); !errors.Is(err, ErrNotFound) {
		t.Errorf("destroying twice: %v", err)
	}
	// No identity left in the directory opens what was encrypted to the
	// destroyed epoch.
	var ct bytes.Buffer
	w, _ := age.Encrypt(&ct, pastID.Recipient())
	io.WriteString(w, "a message of the past epoch")
	w.Close()
	var all []age.Identity
	for _, e := range es {
		if !e.Identity {
			continue
		}
		data, _ := d.IdentityFile(e.ID)
		ids, err := ParseIdentity(data, func() (string, error) { return "correct horse", nil })
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
	}
	var nm *age.NoIdentityMatchError
	if _, err := age.Decrypt(bytes.NewReader(ct.Bytes()), all...); !errors.As(err, &nm) || len(all) != 2 {
		t.Errorf("the past epoch's ciphertext with the %d identities left: %v", len(all), err)
	}
}

func TestDestroyOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	d, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, _ := addEpoch(t, d, t0, "")
	keyPath := filepath.Join(path, s.IDString()+".key")
	// A second name for the same inode lets the test see what Destroy
	// wrote into the file before unlinking it.
	spy := filepath.Join(t.TempDir(), "spy")
	if err := os.Link(keyPath, spy); err != nil {
		t.Skip("no hard links here")
	}
	if err := d.Destroy(s.IDString()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(spy)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || bytes.Count(data, []byte{0}) != len(data) {
		t.Errorf("the identity file was not overwritten with zeros: %q", data[:min(len(data), 40)])
	}
}

func TestUnsafe(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	if _, err := Open(open); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("0755 directory: %v", err)
	}
	real := filepath.Join(dir, "real")
	d, err := Create(real)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := addEpoch(t, d, t0, "")
	d.Close()
	link := filepath.Join(dir, "link")
	os.Symlink(real, link)
	if _, err := Open(link); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("symlink: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory opened")
	}
	// An identity file replaced by a symlink is neither read nor
	// destroyed through.
	d, _ = Open(real)
	defer d.Close()
	victim := filepath.Join(real, "victim")
	os.WriteFile(victim, []byte("not a key"), 0o600)
	key := filepath.Join(real, s.IDString()+".key")
	os.Remove(key)
	os.Symlink("victim", key)
	if _, err := d.IdentityFile(s.IDString()); !errors.Is(err, ErrNotRegular) {
		t.Errorf("symlinked identity read: %v", err)
	}
	if err := d.Destroy(s.IDString()); !errors.Is(err, ErrNotRegular) {
		t.Errorf("symlinked identity destroyed: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "not a key" {
		t.Error("Destroy wrote through a symlink")
	}
	// A set file that holds another set is refused.
	other, _ := addEpoch(t, d, t0, "")
	raw, _ := os.ReadFile(filepath.Join(real, other.IDString()+".set"))
	os.Remove(filepath.Join(real, s.IDString()+".set"))
	os.WriteFile(filepath.Join(real, s.IDString()+".set"), raw, 0o600)
	es, _ := d.List(nil)
	for _, e := range es {
		if e.ID == s.IDString() && e.Set != nil {
			t.Error("a set file holding another set was accepted")
		}
	}
}

func TestNoNetworkDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net" || strings.HasPrefix(dep, "net/") || strings.HasPrefix(dep, "sandyq/server") {
			t.Errorf("depends on %s", dep)
		}
	}
}
