package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// crashRuns is how many times TestCrash kills the writing child.
const crashRuns = 50

// crashWriters is how many goroutines of the child upload at once.
const crashWriters = 4

// crashChild uploads items forever: random sizes up to 2 MiB, age
// ciphertext to the given identity's recipient, sometimes several items
// per Commit, sometimes an abort. After each Commit returns it prints one
// line per item: the item ID and the SHA-256 of its plaintext.
func crashChild(path, identity string) int {
	id, err := age.ParseX25519Identity(identity)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rcpt := id.Recipient()
	s, err := Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	src := SourceID{1}
	if err := s.CreateSource(src, "age1x"); err != nil && !errors.Is(err, ErrExists) {
		fmt.Fprintln(os.Stderr, "create source:", err)
		return 2
	}
	var outMu sync.Mutex
	fail := make(chan error)
	for g := range crashWriters {
		go func() {
			rng := mrand.New(mrand.NewPCG(uint64(os.Getpid()), uint64(g)))
			for {
				n := 1
				if rng.IntN(4) == 0 {
					n = 2 + rng.IntN(2)
				}
				var ws []*ItemWriter
				var line bytes.Buffer
				for range n {
					w, err := s.NewItem(src, KindFile, [16]byte{1})
					if err != nil {
						fail <- err
						return
					}
					size := rng.Int64N(2<<20 + 1)
					pt := mrand.NewChaCha8([32]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(g)})
					h := sha256.New()
					enc, err := age.Encrypt(w, rcpt)
					if err != nil {
						fail <- err
						return
					}
					if _, err := io.CopyN(io.MultiWriter(enc, h), pt, size); err != nil {
						fail <- err
						return
					}
					if err := enc.Close(); err != nil {
						fail <- err
						return
					}
					ws = append(ws, w)
					id := w.ID()
					fmt.Fprintf(&line, "%x %x\n", id[:], h.Sum(nil))
				}
				if rng.IntN(10) == 0 {
					for _, w := range ws {
						if err := w.Abort(); err != nil {
							fail <- err
							return
						}
					}
					continue
				}
				if _, err := s.Commit(ws...); err != nil {
					fail <- err
					return
				}
				outMu.Lock()
				os.Stdout.Write(line.Bytes()) // one write: whole lines or nothing
				outMu.Unlock()
			}
		}()
	}
	err = <-fail
	fmt.Fprintln(os.Stderr, "child:", err)
	return 2
}

func TestCrash(t *testing.T) {
	runs := crashRuns
	if raceEnabled || testing.Short() {
		runs = 5
	}
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))
	expect := make(map[ItemID][32]byte) // reported committed, not deleted by us
	var reported, unreported, bytesIn int64
	for run := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SANDYQ_STORE_CHILD=crash", "SANDYQ_STORE_PATH="+path,
			"SANDYQ_STORE_IDENTITY="+identity.String())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
		}()
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("run %d: child did not die by the kill: %v\n%s", run, err, stderr.Bytes())
		}
		for _, l := range lines {
			var idb, sumb []byte
			if _, err := fmt.Sscanf(l, "%x %x", &idb, &sumb); err != nil || len(idb) != 16 || len(sumb) != 32 {
				t.Fatalf("run %d: bad line %q", run, l)
			}
			expect[ItemID(idb)] = [32]byte(sumb)
			reported++
		}

		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("run %d: Open after kill: %v", run, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("run %d: Check after kill: %v", run, err)
		}
		if st, err := s.Stats(); err != nil || st.Pending != 0 {
			t.Fatalf("run %d: stats %+v, %v", run, st, err)
		}
		for id := range expect {
			if _, err := s.Item(id); err != nil {
				t.Fatalf("run %d: acknowledged item %s: %v", run, id, err)
			}
		}
		items, err := s.ListItems(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got := decryptItem(t, s, it.ID, identity)
			want, ok := expect[it.ID]
			if !ok {
				unreported++ // committed, killed before printing: whole and valid
			} else if got != want {
				t.Fatalf("run %d: item %s decrypts to the wrong plaintext", run, it.ID)
			}
			bytesIn += it.Size
		}
		// Keep the file small: delete all but a few items, which later runs
		// check again.
		for i, it := range items {
			if i < len(items)-3 {
				if err := s.DeleteItem(it.ID); err != nil {
					t.Fatal(err)
				}
				delete(expect, it.ID)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d acknowledged items, %d committed but unacknowledged, %d MiB of ciphertext verified",
		runs, reported, unreported, bytesIn>>20)
	if reported == 0 {
		t.Fatal("the child never committed anything")
	}
}

// decryptItem reads an item (OpenItem checks the ciphertext hash), decrypts
// it and returns the SHA-256 of the plaintext.
func decryptItem(t *testing.T, s *Store, id ItemID, identity age.Identity) [32]byte {
	t.Helper()
	r, err := s.OpenItem(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := age.Decrypt(r, identity)
	if err != nil {
		t.Fatalf("item %s: age: %v", hex.EncodeToString(id[:]), err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, d); err != nil {
		t.Fatalf("item %s: decrypting: %v", hex.EncodeToString(id[:]), err)
	}
	return [32]byte(h.Sum(nil))
}
