package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// replace stages data as the new ciphertext of item id and returns the
// Replacement, not swapped yet.
func replace(t testing.TB, s *Store, id ItemID, src SourceID, set [16]byte, data []byte) *Replacement {
	t.Helper()
	r, err := s.NewReplacement(id, src, set)
	if err != nil {
		t.Fatalf("NewReplacement: %v", err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 5000)
		if _, err := r.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	return r
}

func TestReplaceItems(t *testing.T) {
	s, _ := openTest(t, nil)
	a, b := srcID(1), srcID(2)
	mustSource(t, s, a)
	mustSource(t, s, b)
	old1 := putItem(t, s, a, payload(1, 10_000))
	old2 := putItem(t, s, a, payload(2, 100))
	other := putItem(t, s, b, payload(3, 5000))
	if err := s.MarkFetched(old1.ID); err != nil {
		t.Fatal(err)
	}
	old1.Fetched = true
	newSet := [16]byte{0x5e, 2}
	new1, new2 := payload(11, 12_345), payload(12, 4096*3) // several chunks; exactly full ones
	r1 := replace(t, s, old1.ID, a, newSet, new1)
	r2 := replace(t, s, old2.ID, a, newSet, new2)
	// While staged: nothing visible changed, and the store checks clean.
	checkItemData(t, s, old1, payload(1, 10_000))
	if err := s.Check(); err != nil {
		t.Fatalf("Check with replacements staged: %v", err)
	}
	got, unchanged, err := s.ReplaceItems(r1, r2)
	if err != nil || unchanged != 0 {
		t.Fatalf("ReplaceItems: %v (%d unchanged)", err, unchanged)
	}
	for i, tc := range []struct {
		old  Item
		data []byte
	}{{old1, new1}, {old2, new2}} {
		it, err := s.Item(tc.old.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.old
		want.SetID, want.Size, want.SHA256 = newSet, int64(len(tc.data)), sha256.Sum256(tc.data)
		if *it != want || got[i] != want {
			t.Errorf("item %d after the swap:\n got %+v\n ret %+v\nwant %+v", i, *it, got[i], want)
		}
		checkItemData(t, s, *it, tc.data)
	}
	checkItemData(t, s, other, payload(3, 5000))
	if st, _ := s.Stats(); st.Pending != 0 || st.Items != 3 {
		t.Errorf("stats after the swap: %+v", st)
	}
	listed, err := s.ListItems(0, 0)
	if err != nil || len(listed) != 3 || listed[0].ID != old1.ID || listed[1].ID != old2.ID {
		t.Errorf("the swap changed the commit order: %v", err)
	}

	// The same ciphertext again: nothing to do, and it says so.
	r := replace(t, s, old2.ID, a, newSet, new2)
	if _, unchanged, err := s.ReplaceItems(r); err != nil || unchanged != 1 {
		t.Errorf("same swap again: %v, %d unchanged", err, unchanged)
	}
	checkItemData(t, s, got[1], new2)
	if st, _ := s.Stats(); st.Pending != 0 {
		t.Errorf("staged chunks left after an unchanged swap: %+v", st)
	}
	// An empty ciphertext is stored as an item of size 0.
	r = replace(t, s, old2.ID, a, newSet, nil)
	if got, _, err := s.ReplaceItems(r); err != nil || got[0].Size != 0 {
		t.Fatalf("empty replacement: %v", err)
	}
}

func TestReplaceItemsAllOrNone(t *testing.T) {
	s, _ := openTest(t, nil)
	a, b := srcID(1), srcID(2)
	mustSource(t, s, a)
	mustSource(t, s, b)
	it1 := putItem(t, s, a, payload(1, 9000))
	it2 := putItem(t, s, a, payload(2, 9000))
	itB := putItem(t, s, b, payload(3, 100))
	set := [16]byte{0x5e, 3}

	if _, err := s.NewReplacement(itB.ID, a, set); !errors.Is(err, ErrNotFound) {
		t.Errorf("an item of another source: got %v", err)
	}
	if _, err := s.NewReplacement(ItemID{0xee}, a, set); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown item: got %v", err)
	}

	r1 := replace(t, s, it1.ID, a, set, payload(11, 20_000))
	r2 := replace(t, s, it2.ID, a, set, payload(12, 20_000))
	if _, _, err := s.ReplaceItems(r1, r1); !errors.Is(err, ErrInvalid) {
		t.Errorf("the same replacement twice: got %v", err)
	}
	r3 := replace(t, s, it1.ID, a, set, payload(13, 10))
	if _, _, err := s.ReplaceItems(r1, r3); !errors.Is(err, ErrInvalid) {
		t.Errorf("one item replaced twice: got %v", err)
	}
	if err := r3.Abort(); err != nil {
		t.Fatal(err)
	}
	// The second item disappears before the swap: neither is replaced.
	if err := s.DeleteItem(it2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReplaceItems(r1, r2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("swap with a deleted item: got %v", err)
	}
	checkItemData(t, s, it1, payload(1, 9000))
	if err := s.Check(); err != nil {
		t.Fatalf("Check after the refused swap: %v", err)
	}
	// The replacements are still usable: swap the first alone, abort the
	// other.
	if err := r2.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReplaceItems(r2); !errors.Is(err, ErrAborted) {
		t.Errorf("swap of an aborted replacement: got %v", err)
	}
	if _, _, err := s.ReplaceItems(r1); err != nil {
		t.Fatalf("swap after a refusal: %v", err)
	}
	if _, _, err := s.ReplaceItems(r1); !errors.Is(err, ErrCommitted) {
		t.Errorf("the same replacement swapped twice: got %v", err)
	}
	if st, _ := s.Stats(); st.Pending != 0 {
		t.Errorf("staged chunks left: %+v", st)
	}
}

// TestReplaceItemsClosed checks that a store closed with replacements
// staged leaves the items as they were, and nothing staged.
func TestReplaceItemsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, testOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	mustSource(t, s, srcID(1))
	it := putItem(t, s, srcID(1), payload(1, 9000))
	r := replace(t, s, it.ID, srcID(1), [16]byte{9}, payload(2, 50_000))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReplaceItems(r); !errors.Is(err, ErrClosed) {
		t.Errorf("swap after Close: got %v", err)
	}
	s, err = Open(path, testOptions(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	checkItemData(t, s, it, payload(1, 9000))
	if st, _ := s.Stats(); st.Pending != 0 {
		t.Errorf("staged chunks left: %+v", st)
	}
}

// The kill test: a child process swaps a large rewrap in, and is killed
// with SIGKILL at moments spread over the swap transaction.
const (
	swapItems    = 12
	swapItemSize = 4<<20 + 12_345 // about 48 MiB per swap
	swapRuns     = 10
)

// swapContent is the ciphertext of item i in generation g (0: the
// original upload).
func swapContent(i, g int) []byte { return payload(uint64(i*1000+g+1), swapItemSize-i*1000) }

// TestReplaceChild is the child of TestReplaceItemsKill (skipped unless
// run as one): it stages generation $SANDYQ_REWRAP_GEN of every item,
// prints "swapping", swaps them in, prints "done" and waits to be killed.
func TestReplaceChild(t *testing.T) {
	path := os.Getenv("SANDYQ_REWRAP_CHILD")
	if path == "" {
		t.Skip("only run as the child of TestReplaceItemsKill")
	}
	gen, err := strconv.Atoi(os.Getenv("SANDYQ_REWRAP_GEN"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.ListItems(0, 0)
	if err != nil || len(items) != swapItems {
		t.Fatalf("listing: %d items, %v", len(items), err)
	}
	var rs []*Replacement
	for i, it := range items {
		rs = append(rs, replace(t, s, it.ID, it.Source, [16]byte{byte(gen)}, swapContent(i, gen)))
	}
	fmt.Println("swapping")
	if _, _, err := s.ReplaceItems(rs...); err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
	time.Sleep(time.Minute)
}

func TestReplaceItemsKill(t *testing.T) {
	runs := swapRuns
	if raceEnabled || testing.Short() {
		runs = 3
	}
	path := filepath.Join(t.TempDir(), "swap.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustSource(t, s, srcID(1))
	for i := range swapItems {
		putItem(t, s, srcID(1), swapContent(i, 0))
	}
	items, err := s.ListItems(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))

	gen := 0                   // the generation every item holds
	var swapTime time.Duration // of a swap that was not killed
	var kept, swapped int
	for run := 0; run <= runs; run++ {
		next := gen + 1
		cmd := exec.Command(os.Args[0], "-test.run=^TestReplaceChild$")
		cmd.Env = append(os.Environ(), "SANDYQ_REWRAP_CHILD="+path, "SANDYQ_REWRAP_GEN="+strconv.Itoa(next))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 4)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		if l := <-lines; l != "swapping" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child said %q\n%s", run, l, stderr.Bytes())
		}
		start := time.Now()
		done := false
		if run == 0 {
			// The first run measures how long a whole swap takes.
			if l := <-lines; l != "done" {
				t.Fatalf("child said %q\n%s", l, stderr.Bytes())
			}
			swapTime = time.Since(start)
			done = true
			t.Logf("a swap of %d MiB took %v", swapItems*swapItemSize>>20, swapTime)
		} else {
			// Spread the kills from the start of the swap to a little
			// past its usual end.
			d := time.Duration(rng.Int64N(int64(swapTime)*6/5 + 1))
			select {
			case l := <-lines:
				done = l == "done"
			case <-time.After(d):
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for l := range lines {
			done = done || l == "done"
		}
		cmd.Wait()

		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("run %d: Open after kill: %v", run, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("run %d: Check after kill: %v", run, err)
		}
		if st, err := s.Stats(); err != nil || st.Pending != 0 || st.Items != swapItems {
			t.Fatalf("run %d: stats %+v, %v", run, st, err)
		}
		// Every item is whole, of one generation, and all are of the
		// same one: the old, or the new.
		have := -1
		for i, orig := range items {
			it, err := s.Item(orig.ID)
			if err != nil {
				t.Fatalf("run %d: item %d: %v", run, i, err)
			}
			if it.Cursor != orig.Cursor || it.Seq != orig.Seq || it.Day != orig.Day {
				t.Fatalf("run %d: item %d: cursor, sequence or day changed", run, i)
			}
			g := -1
			data := readItem(t, s, it.ID)
			for _, c := range []int{gen, next} {
				if bytes.Equal(data, swapContent(i, c)) && it.SetID == [16]byte{byte(c)} {
					g = c
				}
			}
			if g < 0 || (have >= 0 && g != have) {
				t.Fatalf("run %d: item %d holds neither generation %d nor %d whole, or not the same as the others (%d)", run, i, gen, next, have)
			}
			have = g
		}
		if done && have != next {
			t.Fatalf("run %d: the child swapped, but the items are of the old generation", run)
		}
		if have == next {
			swapped++
		} else {
			kept++
		}
		gen = have
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: generation %d after the kill (the child's: %d)", run, gen, next)
	}
	t.Logf("%d kills: %d left the old ciphertexts, %d the new", runs, kept, swapped-1)
}
