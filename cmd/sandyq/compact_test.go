package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sandyq/server/store"
)

// TestCompact: deleted items' bytes leave the store file, the live ones
// stay; killed after the copy, the old store is intact and the leftover
// copy is removed by the next compact; refused while serving.
func TestCompact(t *testing.T) {
	bin := sandyqBin(t)
	dir := filepath.Join(t.TempDir(), "data")
	sandyqRun(t, bin, "init", "-d", dir)
	st, err := store.Open(filepath.Join(dir, "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := store.SourceID{1}
	st.CreateSource(src, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	marker := bytes.Repeat([]byte("DELETED-ITEM-BYTES "), 1<<16)
	var doomed []store.ItemID
	for i := range 6 {
		w, _ := st.NewItem(src, store.KindFile, [16]byte{1})
		data := []byte("kept item\n")
		if i%2 == 0 {
			data = marker
		}
		w.Write(data)
		if _, err := st.Commit(w); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			doomed = append(doomed, w.ID())
		}
	}
	for _, id := range doomed {
		if err := st.DeleteItem(id); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	db := filepath.Join(dir, "sandyq.db")
	if b, _ := os.ReadFile(db); !bytes.Contains(b, marker[:1<<10]) {
		t.Skip("bbolt reused the freed pages already; nothing to show") // never seen
	}

	crashRun(t, bin, "compact:copied", "admin", "-d", dir, "compact")
	if _, err := os.Stat(db + ".compact"); err != nil {
		t.Fatalf("after a kill the copy should be left beside the store: %v", err)
	}
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "check"); code != 0 {
		t.Fatalf("store damaged by a killed compaction: %s", stderr)
	}

	srv, _, _ := devServe(t, bin, dir)
	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "compact"); code != 1 || !strings.Contains(stderr, "stop sandyq serve first") {
		t.Fatalf("compact while serving: exit %d\n%s", code, stderr)
	}
	srv.stop(t)

	if _, stderr, code := sandyqRun(t, bin, "admin", "-d", dir, "compact"); code != 0 {
		t.Fatalf("compact: %s", stderr)
	}
	if _, err := os.Stat(db + ".compact"); err == nil {
		t.Fatal("the leftover copy is still there")
	}
	b, _ := os.ReadFile(db)
	if bytes.Contains(b, marker[:1<<10]) {
		t.Fatal("the bytes of deleted items are still in the store file")
	}
	st, err = store.Open(db, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if items, _ := st.ItemsOf(src); len(items) != 3 {
		t.Fatalf("%d items after compaction, want the 3 kept", len(items))
	}
}
