package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestMain runs the child processes of the lock and crash tests: the test
// binary re-executes itself with SANDYQ_STORE_CHILD set.
func TestMain(m *testing.M) {
	switch os.Getenv("SANDYQ_STORE_CHILD") {
	case "":
		os.Exit(m.Run())
	case "lock":
		os.Exit(lockChild(os.Getenv("SANDYQ_STORE_PATH")))
	case "crash":
		os.Exit(crashChild(os.Getenv("SANDYQ_STORE_PATH"), os.Getenv("SANDYQ_STORE_IDENTITY")))
	default:
		os.Exit(3)
	}
}

const childLockTimeout = 500 * time.Millisecond

// lockChild tries to open a store that the parent holds and prints what
// happened.
func lockChild(path string) int {
	start := time.Now()
	s, err := Open(path, &Options{LockTimeout: childLockTimeout, ReadOnly: os.Getenv("SANDYQ_STORE_RO") != ""})
	if err == nil {
		s.Close()
		fmt.Println("opened")
		return 1
	}
	fmt.Printf("%v %d\n", errors.Is(err, ErrLocked), time.Since(start).Milliseconds())
	return 0
}

func TestLockedByAnotherProcess(t *testing.T) {
	_, path := openTest(t, nil)
	for _, ro := range []bool{false, true} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SANDYQ_STORE_CHILD=lock", "SANDYQ_STORE_PATH="+path)
		if ro {
			// A read-only open needs a shared lock: also refused.
			cmd.Env = append(cmd.Env, "SANDYQ_STORE_RO=1")
		}
		start := time.Now()
		out, err := cmd.Output()
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("child: %v (%s)", err, out)
		}
		var locked bool
		var ms int64
		if _, err := fmt.Sscan(string(out), &locked, &ms); err != nil || !locked {
			t.Fatalf("child said %q, want ErrLocked", out)
		}
		if d := time.Duration(ms) * time.Millisecond; d < childLockTimeout-100*time.Millisecond || d > childLockTimeout+time.Second {
			t.Fatalf("child waited %v for the lock, want about %v", d, childLockTimeout)
		}
		if elapsed > childLockTimeout+5*time.Second {
			t.Fatalf("child took %v", elapsed)
		}
	}
}

// openWithin opens path and fails the test if Open takes too long.
func openWithin(t *testing.T, path string, opts *Options) (*Store, error) {
	t.Helper()
	type result struct {
		s   *Store
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := Open(path, opts)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("Open hangs")
		return nil, nil
	}
}

// pagesOf parses a bbolt file and returns the IDs of the branch and leaf
// pages reachable from its current meta page (the newer valid one).
func pagesOf(t *testing.T, data []byte, pageSize int) []uint64 {
	t.Helper()
	ne := binary.NativeEndian
	var meta []byte
	var txid uint64
	for i := range 2 {
		m := data[i*pageSize+16:]
		if id := ne.Uint64(m[48:]); meta == nil || id > txid {
			meta, txid = m, id
		}
	}
	var out []uint64
	var walk func(id uint64)
	walk = func(id uint64) {
		p := data[int(id)*pageSize:]
		flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
		out = append(out, id)
		for i := range count {
			e := p[16+16*i:]
			switch flags {
			case 0x01: // branch
				walk(ne.Uint64(e[8:]))
			case 0x02: // leaf
				if ne.Uint32(e[0:])&0x01 != 0 { // bucket
					pos, ks := ne.Uint32(e[4:]), ne.Uint32(e[8:])
					v := e[pos+ks:]
					if root := ne.Uint64(v); root != 0 {
						walk(root)
					}
				}
			default:
				t.Fatalf("page %d has flags %x", id, flags)
			}
		}
	}
	walk(ne.Uint64(meta[16:]))
	return out
}

// damagedStore builds a store with enough in it to have branch pages, and
// returns its bytes, its page size and the reachable tree pages.
func damagedStore(t *testing.T) (string, []byte, int, []uint64) {
	t.Helper()
	s, path := openTest(t, nil)
	for i := range 40 {
		mustSource(t, s, srcID(byte(i)))
		putItem(t, s, srcID(byte(i)), payload(uint64(i), 100+i*300))
	}
	s.PutSetting("k", []byte("v"))
	pageSize := s.db.Info().PageSize
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data, pageSize, pagesOf(t, data, pageSize)
}

func TestDamagedFiles(t *testing.T) {
	_, orig, ps, pages := damagedStore(t)
	var hwm int
	{
		m := orig[16:]
		m1 := orig[ps+16:]
		ne := binary.NativeEndian
		hwm = int(max(ne.Uint64(m[40:]), ne.Uint64(m1[40:]))) * ps
	}
	type tc struct {
		name string
		data []byte
	}
	var tests []tc
	add := func(name string, f func(b []byte) []byte) {
		tests = append(tests, tc{name, f(bytes.Clone(orig))})
	}
	add("zero length", func(b []byte) []byte { return nil })
	for _, n := range []int{1, 100, ps - 1, ps, ps + 100, 2 * ps, 2*ps + 1, 3 * ps, hwm / 2, hwm - ps, hwm - 1} {
		add(fmt.Sprintf("truncated at %d", n), func(b []byte) []byte { return b[:n] })
	}
	for i := range 2 {
		for _, off := range []int{16, 20, 24, 32, 48, 56, 64, 70} {
			add(fmt.Sprintf("meta %d byte %d flipped", i, off), func(b []byte) []byte { b[i*ps+off] ^= 0x10; return b })
		}
	}
	add("both metas flipped", func(b []byte) []byte { b[16] ^= 1; b[ps+16] ^= 1; return b })
	if len(pages) > 12 {
		mrand.New(mrand.NewPCG(3, 4)).Shuffle(len(pages)-1, func(i, j int) { pages[i+1], pages[j+1] = pages[j+1], pages[i+1] })
		pages = pages[:12] // the root page, and 11 others
	}
	for _, id := range pages {
		add(fmt.Sprintf("page %d id flipped", id), func(b []byte) []byte { b[int(id)*ps] ^= 0x40; return b })
		add(fmt.Sprintf("page %d flags garbage", id), func(b []byte) []byte { b[int(id)*ps+8] = 0x20; return b })
		add(fmt.Sprintf("page %d branch/leaf swapped", id), func(b []byte) []byte { b[int(id)*ps+8] ^= 0x03; return b })
		add(fmt.Sprintf("page %d huge count", id), func(b []byte) []byte { b[int(id)*ps+10] = 0xff; b[int(id)*ps+11] = 0x7f; return b })
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, n := range []int{10, 4096, 16384, 1 << 20} {
		add(fmt.Sprintf("garbage %d", n), func([]byte) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		})
	}
	add("text", func([]byte) []byte { return bytes.Repeat([]byte("not a database\n"), 1000) })
	add("meta page from another file", func(b []byte) []byte { copy(b, bytes.Repeat([]byte{0xff}, ps)); return b })

	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.db", i))
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := openWithin(t, path, testOptions(9))
			if err == nil {
				s.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			if strings.Contains(err.Error(), path) {
				t.Errorf("error contains the path: %v", err)
			}
		})
	}
}

func TestNotAStore(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		setup func(tx *bbolt.Tx) error
		want  error
	}{
		{"no meta bucket", func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }, ErrCorrupt},
		{"bad magic", func(tx *bbolt.Tx) error {
			b, _ := tx.CreateBucket(bucketMeta)
			return b.Put(metaKeyMagic, []byte("something else"))
		}, ErrCorrupt},
		{"newer version", func(tx *bbolt.Tx) error { return setVersion(tx, SchemaVersion+1) }, ErrVersion},
		{"older version, no migration", func(tx *bbolt.Tx) error { return setVersion(tx, 0) }, ErrVersion},
		{"bad version length", func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaKeyVersion, []byte{1})
		}, ErrCorrupt},
		{"missing bucket", func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketLog) }, ErrCorrupt},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.db", i))
			if tt.name != "no meta bucket" && tt.name != "bad magic" {
				s, err := Open(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tt.setup); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, err := openWithin(t, path, nil); !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}

func setVersion(tx *bbolt.Tx, v uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return tx.Bucket(bucketMeta).Put(metaKeyVersion, b[:])
}

func TestOpenFileChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("new store has mode %v", fi.Mode())
	}
	if m, _ := filepath.Glob(path + ".new-*"); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o666} {
		os.Chmod(path, mode)
		if _, err := Open(path, nil); !errors.Is(err, ErrPermissions) {
			t.Fatalf("mode %v: Open = %v, want ErrPermissions", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	if _, err := Open(dir, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open of a directory = %v", err)
	}
	for _, o := range []*Options{{ChunkSize: 100}, {ChunkSize: 32 << 20}} {
		if _, err := Open(path, o); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Open with %+v = %v", o, err)
		}
	}
}
