package backup

import (
	"bytes"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/agekey"
	"sandyq/server/datadir"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// TestRoundTrip backs up a data directory and restores it: the same bytes
// and modes for every file, the same onion addresses, the same store
// contents, and nothing else.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t, 1)
	id := newIdentity(t)
	data := backupBytes(t, f, id.Recipient())

	dst := filepath.Join(t.TempDir(), "restored")
	info, err := Restore(bytes.NewReader(data), []age.Identity{id}, dst)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if info.Dir != dst {
		t.Errorf("Info.Dir = %q, want %q", info.Dir, dst)
	}
	noLeftovers(t, filepath.Dir(dst), "restored")

	// Files: identical bytes (the store aside: it is a snapshot, checked
	// below by content), modes as datadir makes them, nothing else.
	src, got := tree(t, f.dir.Path()), tree(t, dst)
	want := map[string]os.FileMode{
		".":                         os.ModeDir | 0o700,
		"sandyq.db":                 0o600,
		"pepper":                    0o600,
		"newsroom.pub":              0o600,
		"instance.key":              0o600,
		"onion":                     os.ModeDir | 0o700,
		"onion/services":            os.ModeDir | 0o700,
		"onion/services/source":     os.ModeDir | 0o700,
		"onion/services/journalist": os.ModeDir | 0o700,
	}
	for _, svc := range []string{"source", "journalist"} {
		for _, file := range onionFiles {
			want[onionPath(svc, file)] = 0o600
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("restored tree:\n got %v\nwant %v", got, want)
	}
	for name, mode := range want {
		if src[name] != mode {
			t.Errorf("%s: source mode %v, restored %v", name, src[name], mode)
		}
		if mode.IsDir() || name == datadir.StoreFile {
			continue
		}
		a, err := os.ReadFile(f.dir.Join(filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: restored bytes differ", name)
		}
	}

	// Onion addresses, as package onion reads them.
	for name, addr := range f.onions {
		got, err := onion.KeyAddress(filepath.Join(dst, datadir.OnionDir), name)
		if err != nil || got != addr {
			t.Errorf("KeyAddress(%s) = %q, %v; want %q", name, got, err, addr)
		}
	}
	wantOnions := []Onion{{"journalist", f.onions["journalist"]}, {"source", f.onions["source"]}}
	if !slices.Equal(info.Onions, wantOnions) {
		t.Errorf("Info.Onions = %v, want %v", info.Onions, wantOnions)
	}

	// The data directory opens, its keys are the same.
	d, err := datadir.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	ik, err := d.InstanceKey()
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := f.dir.InstanceKey()
	if !ik.Public().Equal(orig.Public()) || info.InstanceKey != orig.Public().String() {
		t.Errorf("instance key: restored %s, Info %s, want %s", ik.Public(), info.InstanceKey, orig.Public())
	}
	if nk, _ := f.dir.NewsroomKey(); info.NewsroomKey != nk {
		t.Errorf("Info.NewsroomKey = %q, want %q", info.NewsroomKey, nk)
	}
	if info.Day != testNow.Truncate(24*time.Hour) {
		t.Errorf("Info.Day = %v", info.Day)
	}

	// The store: the same items, replies, sets, journalists; Check passes.
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	compareStores(t, f.st, st)
	stats, _ := f.st.Stats()
	if info.Items != stats.Items || info.Sources != stats.Sources || info.Replies != stats.Replies {
		t.Errorf("Info counts %d/%d/%d, want %d/%d/%d", info.Items, info.Sources, info.Replies, stats.Items, stats.Sources, stats.Replies)
	}

	// Inspect says the same, and writes nothing.
	ins, err := Inspect(bytes.NewReader(data), []age.Identity{id})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	info.Dir = ""
	if !infoEqual(ins, info) {
		t.Errorf("Inspect = %+v\nRestore = %+v", ins, info)
	}
}

// compareStores checks that b holds what a holds.
func compareStores(t *testing.T, a, b *store.Store) {
	t.Helper()
	am, ad := itemsOf(t, a)
	bm, bd := itemsOf(t, b)
	if len(am) != len(bm) {
		t.Fatalf("items: %d, want %d", len(bm), len(am))
	}
	for id, it := range am {
		if bm[id] != it || !bytes.Equal(ad[id], bd[id]) {
			t.Errorf("item %s differs", id)
		}
	}
	for s := range 3 {
		src := store.SourceID{byte(s + 1)}
		ar, _ := a.Replies(src)
		br, _ := b.Replies(src)
		if !slices.Equal(ar, br) || len(ar) != 1 {
			t.Errorf("replies of source %d: %v, want %v", s, br, ar)
		}
	}
	as, _ := a.RecipientSets()
	bs, _ := b.RecipientSets()
	if len(bs) != 1 || !bytes.Equal(as[[16]byte{7}], bs[[16]byte{7}]) {
		t.Errorf("recipient sets differ")
	}
	if cur, _, err := b.CurrentRecipientSet(); err != nil || cur != [16]byte{7} {
		t.Errorf("current set: %x, %v", cur, err)
	}
	if j, err := b.Journalist("alice"); err != nil || string(j) != "record" {
		t.Errorf("journalist: %q, %v", j, err)
	}
	al, _ := a.LastCursor()
	bl, _ := b.LastCursor()
	if al != bl {
		t.Errorf("last cursor %d, want %d", bl, al)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func infoEqual(a, b *Info) bool {
	return a.Day.Equal(b.Day) && a.InstanceKey == b.InstanceKey && a.NewsroomKey == b.NewsroomKey &&
		slices.Equal(a.Onions, b.Onions) && a.Sources == b.Sources && a.Items == b.Items &&
		a.Replies == b.Replies && a.LastCursor == b.LastCursor && a.StoreSize == b.StoreSize && a.Dir == b.Dir
}

// TestRoundTripPQ encrypts to two post-quantum recipients; either identity
// restores, and Write's Info matches Inspect's.
func TestRoundTripPQ(t *testing.T) {
	f := newFixture(t, 2)
	var ids []*age.HybridIdentity
	for range 2 {
		id, err := agekey.GenerateHybrid(mrand.NewChaCha8([32]byte{byte(len(ids) + 1)}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var buf bytes.Buffer
	winfo, err := Write(&buf, f.dir, f.st, []age.Recipient{ids[0].Recipient(), ids[1].Recipient()}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(bytes.NewReader(buf.Bytes()), []age.Identity{ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if !infoEqual(info, winfo) {
		t.Errorf("Inspect = %+v\nWrite = %+v", info, winfo)
	}
	if _, err := Restore(bytes.NewReader(buf.Bytes()), []age.Identity{ids[0]}, filepath.Join(t.TempDir(), "d")); err != nil {
		t.Fatal(err)
	}
}

// TestMinimal backs up a data directory without onion keys, newsroom
// key or items: the smallest backup.
func TestMinimal(t *testing.T) {
	tmp := t.TempDir()
	d, err := datadir.Create(filepath.Join(tmp, "data"), newIdentityRand(), "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := newIdentity(t)
	var buf bytes.Buffer
	if _, err := Write(&buf, d, st, []age.Recipient{id.Recipient()}, testNow); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(tmp, "restored")
	info, err := Restore(&buf, []age.Identity{id}, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Onions) != 0 || info.NewsroomKey != "" || info.Items != 0 {
		t.Errorf("Info = %+v", info)
	}
	want := map[string]os.FileMode{".": os.ModeDir | 0o700, "sandyq.db": 0o600, "pepper": 0o600,
		"instance.key": 0o600, "onion": os.ModeDir | 0o700}
	if got := tree(t, dst); !mapsEqual(got, want) {
		t.Errorf("tree %v, want %v", got, want)
	}
}

func newIdentityRand() io.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{9}, 1024))
}

// TestWriteRefusesBadDataDir: a data directory whose keys are broken gives
// an error, and Write writes nothing at all.
func TestWriteRefusesBadDataDir(t *testing.T) {
	id := newIdentity(t)
	for _, tc := range []struct {
		name   string
		break_ func(f *fixture)
		text   string
	}{
		{"no pepper", func(f *fixture) { os.Remove(f.dir.Join("pepper")) }, "reading pepper"},
		{"short pepper", func(f *fixture) { os.WriteFile(f.dir.Join("pepper"), []byte("x"), 0o600) }, "pepper has 1 bytes"},
		{"pepper is a symlink", func(f *fixture) {
			os.Rename(f.dir.Join("pepper"), f.dir.Join("p2"))
			os.Symlink("p2", f.dir.Join("pepper"))
		}, "reading pepper"},
		{"instance key", func(f *fixture) { os.WriteFile(f.dir.Join("instance.key"), []byte("nope\n"), 0o600) }, "does not hold an instance secret key"},
		{"public key missing", func(f *fixture) {
			os.Remove(f.dir.Join("onion/services/source/hs_ed25519_public_key"))
		}, "reading onion/services/source/hs_ed25519_public_key"},
		{"keys of two services mixed", func(f *fixture) {
			b, _ := os.ReadFile(f.dir.Join("onion/services/journalist/hs_ed25519_public_key"))
			os.WriteFile(f.dir.Join("onion/services/source/hs_ed25519_public_key"), b, 0o600)
		}, "do not belong together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3)
			tc.break_(f)
			var buf bytes.Buffer
			_, err := Write(&buf, f.dir, f.st, []age.Recipient{id.Recipient()}, testNow)
			wantErrText(t, err, tc.text)
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
	f := newFixture(t, 3)
	if _, err := Write(io.Discard, f.dir, f.st, nil, testNow); err == nil {
		t.Error("Write with no recipients succeeded")
	}
}

// TestWriteSkipsNonServices: entries of onion/services that are not
// services (a stray file, a directory with a bad name or without a key)
// are left out; tor's own state too.
func TestWriteSkipsNonServices(t *testing.T) {
	f := newFixture(t, 4)
	os.WriteFile(f.dir.Join("onion/services/notes.txt"), []byte("x"), 0o600)
	os.Mkdir(f.dir.Join("onion/services/Bad_Name"), 0o700)
	os.Mkdir(f.dir.Join("onion/services/empty"), 0o700)
	os.MkdirAll(f.dir.Join("onion/tor"), 0o700)
	os.WriteFile(f.dir.Join("onion/tor/state"), []byte("tor state"), 0o600)
	os.WriteFile(f.dir.Join("control.sock"), nil, 0o600)
	os.MkdirAll(f.dir.Join("onion/services/source/authorized_clients"), 0o700)
	id := newIdentity(t)
	data := backupBytes(t, f, id.Recipient())
	dst := filepath.Join(t.TempDir(), "d")
	info, err := Restore(bytes.NewReader(data), []age.Identity{id}, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Onions) != 2 {
		t.Errorf("onions %v", info.Onions)
	}
	got := tree(t, dst)
	for _, name := range []string{"onion/services/notes.txt", "onion/services/Bad_Name", "onion/services/empty",
		"onion/tor", "control.sock", "onion/services/source/authorized_clients"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s was restored", name)
		}
	}
}

// TestRestoreDestination: an existing empty directory is replaced, a
// non-empty one or a file is refused and left alone.
func TestRestoreDestination(t *testing.T) {
	f := newFixture(t, 5)
	id := newIdentity(t)
	data := backupBytes(t, f, id.Recipient())
	ids := []age.Identity{id}
	parent := t.TempDir()

	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := Restore(bytes.NewReader(data), ids, empty); err != nil {
		t.Fatalf("into an empty directory: %v", err)
	}
	if fi, _ := os.Stat(empty); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode())
	}

	full := filepath.Join(parent, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "keep"), []byte("mine"), 0o600)
	_, err := Restore(bytes.NewReader(data), ids, full)
	wantErr(t, err, ErrDestination)
	if b, _ := os.ReadFile(filepath.Join(full, "keep")); string(b) != "mine" {
		t.Error("the non-empty destination was changed")
	}

	file := filepath.Join(parent, "file")
	os.WriteFile(file, []byte("mine"), 0o600)
	_, err = Restore(bytes.NewReader(data), ids, file)
	wantErr(t, err, ErrDestination)

	// Over a restored directory: refused.
	_, err = Restore(bytes.NewReader(data), ids, empty)
	wantErr(t, err, ErrDestination)
	noLeftovers(t, parent, "empty", "full", "file")

	// A parent that does not exist yet is made.
	deep := filepath.Join(parent, "a", "b", "data")
	if _, err := Restore(bytes.NewReader(data), ids, deep); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFile: the output appears complete with mode 0600, is never
// overwritten, and a failed backup leaves nothing.
func TestWriteFile(t *testing.T) {
	f := newFixture(t, 6)
	id := newIdentity(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "sandyq.backup")
	write := func(w io.Writer) error {
		_, err := Write(w, f.dir, f.st, []age.Recipient{id.Recipient()}, testNow)
		return err
	}
	if err := WriteFile(out, write); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("output: %v, %v", fi, err)
	}
	r, _ := os.Open(out)
	if _, err := Inspect(r, []age.Identity{id}); err != nil {
		t.Fatalf("Inspect of the file: %v", err)
	}
	r.Close()
	before, _ := os.ReadFile(out)

	called := false
	err = WriteFile(out, func(io.Writer) error { called = true; return nil })
	wantErr(t, err, ErrDestination)
	if called {
		t.Error("write ran although the output exists")
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the existing output was changed")
	}

	failed := filepath.Join(dir, "failed.backup")
	boom := errors.New("boom")
	err = WriteFile(failed, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	wantErr(t, err, boom)
	noLeftovers(t, dir, "sandyq.backup")

	// A file that appears at the path while the backup runs is kept.
	racing := filepath.Join(dir, "racing.backup")
	err = WriteFile(racing, func(w io.Writer) error {
		return os.WriteFile(racing, []byte("theirs"), 0o600)
	})
	wantErr(t, err, ErrDestination)
	if b, _ := os.ReadFile(racing); string(b) != "theirs" {
		t.Error("a file that appeared meanwhile was replaced")
	}
	noLeftovers(t, dir, "sandyq.backup", "racing.backup")
}

// TestHotBackup backs up while goroutines keep committing items (and
// leave uploads half done): the restored store passes Check and holds
// exactly the items committed up to its last cursor — a prefix of the
// commits — including every commit acknowledged before the backup began.
func TestHotBackup(t *testing.T) {
	f := newFixture(t, 7)
	for range 40 { // a few MiB, so that the backup takes a while
		f.addItem(t, store.SourceID{1}, 100<<10)
	}
	id := newIdentity(t)

	var (
		mu        sync.Mutex
		committed []store.Item
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := store.SourceID{byte(g%3 + 1)}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				w, err := f.st.NewItem(src, store.KindMessage, [16]byte{7})
				if err != nil {
					t.Error(err)
					return
				}
				data := bytes.Repeat([]byte{byte(g), byte(i)}, 5000+i%7*1000)
				if _, err := w.Write(data); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 4 {
					w.Abort() // an upload given up
					continue
				}
				items, err := f.st.Commit(w)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed = append(committed, items...)
				mu.Unlock()
			}
		}()
	}
	// Let some commits land, then back up while they go on.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) || t.Failed() {
			close(stop)
			wg.Wait()
			t.Fatalf("only %d commits", n)
		}
	}
	mu.Lock()
	before := slices.Clone(committed)
	mu.Unlock()
	var buf bytes.Buffer
	_, err := Write(&buf, f.dir, f.st, []age.Recipient{id.Recipient()}, testNow)
	mu.Lock()
	during := len(committed) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits before the backup, %d while it ran, backup %d bytes", len(before), during, buf.Len())

	dst := filepath.Join(t.TempDir(), "d")
	info, err := Restore(&buf, []age.Identity{id}, dst)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	st, err := store.Open(filepath.Join(dst, datadir.StoreFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	last, _ := st.LastCursor()
	if last != info.LastCursor {
		t.Errorf("LastCursor %d, Info says %d", last, info.LastCursor)
	}
	rm, rd := itemsOf(t, st)
	lm, ld := itemsOf(t, f.st)
	// Exactly the live items up to the snapshot's cursor: a prefix.
	n := 0
	for id, it := range lm {
		if it.Cursor > last {
			if _, ok := rm[id]; ok {
				t.Errorf("item at cursor %d is after the snapshot's cursor %d", it.Cursor, last)
			}
			continue
		}
		n++
		if rm[id] != it || !bytes.Equal(rd[id], ld[id]) {
			t.Errorf("item at cursor %d missing or different", it.Cursor)
		}
	}
	if n != len(rm) {
		t.Errorf("restored %d items, the live store has %d up to cursor %d", len(rm), n, last)
	}
	for _, it := range before {
		if _, ok := rm[it.ID]; !ok {
			t.Errorf("item committed before the backup (cursor %d) is missing", it.Cursor)
		}
	}
	if stats, _ := st.Stats(); stats.Pending != 0 {
		t.Errorf("%d pending uploads restored", stats.Pending)
	}
}
