package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/store"
)

// TestRestoreDrill: a hot backup while sources submit, restored into a
// fresh directory: the same onion addresses and instance key, every item
// decrypts, check is clean. The same old backup restored after its set
// retired says which items belong to the retired set.
func TestRestoreDrill(t *testing.T) {
	bin := sandyqBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	sandyqRun(t, bin, "init", "-d", dir)
	newsroom, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateHybridIdentity()
	idFile := filepath.Join(work, "newsroom.identity")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	now := time.Now().Truncate(time.Second)
	retires := now.Add(6 * time.Second)
	set, _ := recipients.NewSet(rand.Reader, []string{id.Recipient().String()}, now.Add(-time.Hour), retires)
	raw, _ := set.Sign(newsroom)
	setFile := filepath.Join(work, "set.txt")
	os.WriteFile(setFile, raw, 0o600)
	for _, args := range [][]string{
		{"admin", "-d", dir, "newsroom", "pin", newsroom.Public().String()},
		{"admin", "-d", dir, "recipients", "install", setFile},
	} {
		if _, stderr, code := sandyqRun(t, bin, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	srv, srcURL, _ := devServe(t, bin, dir)
	submit := func(msg string) {
		if _, stderr, code := sandyqRun(t, bin, "submit", "--dev", "--server", srcURL, "--newsroom-key",
			newsroom.Public().String(), "-m", msg); code != 0 {
			t.Errorf("submit: %s", stderr)
		}
	}
	submit("before the backup")
	// Under load: sources keep submitting while the backup runs.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					// The new-codename throttle answers 503 under this load:
					// the server protecting itself, not a failure.
					_, stderr, code := sandyqRun(t, bin, "submit", "--dev", "--server", srcURL, "--newsroom-key",
						newsroom.Public().String(), "-m", "during the backup "+strings.Repeat("x", i))
					if code != 0 && !strings.Contains(stderr, "busy") {
						t.Errorf("submit during the backup: %s", stderr)
					}
					if code != 0 {
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	bk := filepath.Join(work, "drop.backup")
	_, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "backup", "-o", bk)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("hot backup: %s", stderr)
	}
	if fi, err := os.Stat(bk); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "backup", "-o", bk); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("backup over an existing file: %d %s", code, stderr)
	}
	origStatus, _, _ := sandyqRun(t, bin, "admin", "-d", dir, "status")
	srv.stop(t)

	// Restore into a fresh directory; a wrong identity first.
	other, _ := age.GenerateHybridIdentity()
	otherFile := filepath.Join(work, "other.identity")
	os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
	fresh := filepath.Join(work, "restored")
	if _, stderr, code := sandyqRun(t, bin, "admin", "restore", "-i", otherFile, bk, fresh); code != 1 {
		t.Fatalf("restore with a wrong identity: %d %s", code, stderr)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatal("a refused restore left the directory")
	}
	out, stderr, code := sandyqRun(t, bin, "admin", "restore", "-i", idFile, bk, fresh)
	if code != 0 {
		t.Fatalf("restore: %s", stderr)
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", fresh, "check"); code != 0 {
		t.Fatalf("check of the restored dir: %s", stderr)
	}
	newStatus, _, _ := sandyqRun(t, bin, "admin", "-d", fresh, "status")
	for _, line := range strings.Split(origStatus, "\n") {
		if strings.HasPrefix(line, "instance key:") || strings.Contains(line, " onion:") {
			if !strings.Contains(newStatus, line) {
				t.Errorf("restored status lacks %q:\n%s", line, newStatus)
			}
		}
	}
	if !strings.Contains(out, ".onion/") {
		t.Errorf("restore printed no addresses:\n%s", out)
	}
	st, err := store.Open(filepath.Join(fresh, "sandyq.db"), &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := st.ListItems(0, 0)
	if len(items) < 1 {
		t.Fatal("the restored store has no items")
	}
	for _, it := range items {
		openItem(t, st, it.ID, id)
	}
	st.Close()
	t.Logf("restored %d items (submitted before and during the hot backup)", len(items))
	if want := fmt.Sprintf("  %d items", len(items)); !strings.Contains(newStatus, set.IDString()) || !strings.Contains(newStatus, want) {
		t.Errorf("status does not count the set's %d items:\n%s", len(items), newStatus)
	}

	// The same backup after its set retired: the restore flags the items.
	time.Sleep(time.Until(retires) + time.Second)
	_, stderr, code = sandyqRun(t, bin, "admin", "restore", "-i", idFile, bk, filepath.Join(work, "late"))
	if code != 0 || !strings.Contains(stderr, "retired on") {
		t.Fatalf("restore after the set retired: %d\n%s", code, stderr)
	}
}
