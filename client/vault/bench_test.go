package vault

// BenchmarkOpen and BenchmarkAgeDecrypt compare importing one large item
// into a vault (bundle SHA-256, age decryption, envelope checks, writing
// and syncing the plaintext) with decrypting the same age file with the
// age command-line tool, writing to the same file system. The item is
// SANDYQ_BENCH_SIZE bytes of content (default 1 GiB; "64MiB", "1GiB" or a
// number of bytes), encrypted to a post-quantum identity:
//
//	go test ./client/vault -run '^$' -bench 'Open|AgeDecrypt' -benchtime 1x -count 3
//	SANDYQ_BENCH_SIZE=64MiB go test ./client/vault -run '^$' -bench . -benchtime 1x
//
// The fixture (the bundle and the bare age file, about twice the size) is
// made once per test process in a temporary directory and removed at the
// end. With SANDYQ_BENCH_DIR set, it is made in that directory instead and
// kept, and later runs with the same size reuse it (to profile the import
// alone); the outputs go to the same file system. Before each iteration
// the input is read once (so both read it from the page cache) and the
// file system is synced (so that no write-back of an earlier iteration
// runs during this one).
//
// What is compared: the import writes the plaintext and fsyncs it before
// recording the item (it starts the write-back early, as it goes, so the
// final fsync is short); "age -d" leaves its output in the page cache. On
// a disk whose write speed varies (a VM, a thin-provisioned or
// discard-mounted volume) the first dominates; on a tmpfs
// (SANDYQ_BENCH_DIR=/dev/shm/x) the comparison is of CPU work only.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/agekey"
	"sandyq/crypto/envelope"
	"sandyq/crypto/sign"
	"sandyq/internal/testenv"
)

type benchFixture struct {
	dir      string
	keep     bool   // SANDYQ_BENCH_DIR: neither removed nor remade
	out      string // the outputs of the iterations, removed at the end
	outs     int
	size     int64 // content bytes
	bundle   string
	item     string // the item's age file alone, for the age CLI
	identity string // identity file
	id       *age.HybridIdentity
}

var (
	benchOnce sync.Once
	bench     *benchFixture
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bench != nil {
		os.RemoveAll(bench.out)
		if !bench.keep {
			os.RemoveAll(bench.dir)
		}
	}
	os.Exit(code)
}

// warm reads the file at path, so that the next iteration reads it from
// the page cache like the one before (this machine may have dropped it).
func warm(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		b.Fatal(err)
	}
}

// benchOut returns a new path for a benchmark's output.
func (fx *benchFixture) newOut(prefix string) string {
	fx.outs++
	return filepath.Join(fx.out, fmt.Sprintf("%s-%d", prefix, fx.outs))
}

// benchSize parses SANDYQ_BENCH_SIZE.
func benchSize() (int64, error) {
	s := os.Getenv("SANDYQ_BENCH_SIZE")
	if s == "" {
		return 1 << 30, nil
	}
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = n, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("SANDYQ_BENCH_SIZE=%q: want a size such as 64MiB", os.Getenv("SANDYQ_BENCH_SIZE"))
	}
	return n * mult, nil
}

func getBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	benchOnce.Do(func() { bench, benchErr = makeBenchFixture() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func makeBenchFixture() (*benchFixture, error) {
	size, err := benchSize()
	if err != nil {
		return nil, err
	}
	keep := os.Getenv("SANDYQ_BENCH_DIR")
	var dir string
	if keep != "" {
		dir = filepath.Join(keep, fmt.Sprintf("fixture-%d", size))
		err = os.MkdirAll(dir, 0o700)
	} else {
		dir, err = os.MkdirTemp("", "sandyq-bench-")
	}
	if err != nil {
		return nil, err
	}
	fx := &benchFixture{dir: dir, size: size, keep: keep != "", out: filepath.Join(dir, "out"),
		bundle: filepath.Join(dir, "bundle.sqb"), item: filepath.Join(dir, "item.age"), identity: filepath.Join(dir, "identity.txt")}
	os.RemoveAll(fx.out)
	if err := os.Mkdir(fx.out, 0o700); err != nil {
		return nil, err
	}
	if fx.keep {
		if data, err := os.ReadFile(fx.identity); err == nil {
			if fx.id, err = age.ParseHybridIdentity(strings.TrimSpace(string(data))); err == nil {
				if _, err := os.Stat(fx.bundle); err == nil {
					return fx, nil
				}
			}
		}
	}
	fail := func(err error) (*benchFixture, error) {
		if !fx.keep {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	if fx.id, err = agekey.GenerateHybrid(rand.Reader); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(fx.identity, []byte(fx.id.String()+"\n"), 0o600); err != nil {
		return fail(err)
	}

	// The item: a file of size bytes of random-looking content.
	hdr := &envelope.Header{ItemID: [16]byte{1}, SourceID: [32]byte{2}, Kind: envelope.File, Sequence: 0,
		Filename: "big.bin", MediaType: "application/octet-stream"}
	f, err := os.Create(fx.item)
	if err != nil {
		return fail(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := envelope.Seal(bw, hdr, fx.id.Recipient())
	if err != nil {
		return fail(err)
	}
	block := make([]byte, 1<<20)
	rand.Read(block)
	for left := size; left > 0; {
		n := min(left, int64(len(block)))
		if _, err := w.Write(block[:n]); err != nil {
			return fail(err)
		}
		left -= n
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}

	// The bundle around it.
	h := sha256.New()
	itemFile, err := os.Open(fx.item)
	if err != nil {
		return fail(err)
	}
	defer itemFile.Close()
	n, err := io.Copy(h, itemFile)
	if err != nil {
		return fail(err)
	}
	m := &bundle.Manifest{Type: bundle.Submissions, UpTo: 1,
		Sources: []bundle.Source{{ID: hdr.SourceID, ReplyRecipient: fx.id.Recipient().String()}},
		Items:   []bundle.Item{{ID: hdr.ItemID, Source: hdr.SourceID, Kind: bundle.File, Size: n, SHA256: [32]byte(h.Sum(nil))}}}
	out, err := os.Create(fx.bundle + ".tmp") // renamed when complete: a kept fixture is reused only whole
	if err != nil {
		return fail(err)
	}
	obw := bufio.NewWriterSize(out, 1<<20)
	bwr, err := bundle.NewWriter(obw, m, benchKey())
	if err != nil {
		return fail(err)
	}
	if _, err := itemFile.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if err := bwr.WriteItem(itemFile); err != nil {
		return fail(err)
	}
	if err := bwr.Close(); err != nil {
		return fail(err)
	}
	if err := obw.Flush(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(fx.bundle+".tmp", fx.bundle); err != nil {
		return fail(err)
	}
	return fx, nil
}

func benchKey() *sign.PrivateKey {
	k, err := sign.NewPrivateKey(bytes.Repeat([]byte{7}, 32), sign.Instance)
	if err != nil {
		panic(err)
	}
	return k
}

// BenchmarkOpen imports the bundle into a fresh vault, as "sandyq-client
// open" does.
func BenchmarkOpen(b *testing.B) {
	fx := getBenchFixture(b)
	b.SetBytes(fx.size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		warm(b, fx.bundle)
		settle()
		b.StartTimer()
		dir := fx.newOut("vault")
		f, err := os.Open(fx.bundle)
		if err != nil {
			b.Fatal(err)
		}
		br, err := bundle.NewReader(f, bundle.Submissions, bundle.TrustKeys(benchKey().Public()), nil)
		if err != nil {
			b.Fatal(err)
		}
		v, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := v.Import(br, []age.Identity{fx.id})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Imported) != 1 || rep.Imported[0].Size != fx.size {
			b.Fatalf("report %+v", rep)
		}
		v.Close()
		f.Close()
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkAgeDecrypt decrypts the same item with the age CLI.
func BenchmarkAgeDecrypt(b *testing.B) {
	ageBin := testenv.RequireBinary(b, "age", "go install filippo.io/age/cmd/...@v1.3.2")
	fx := getBenchFixture(b)
	b.SetBytes(fx.size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		warm(b, fx.item)
		settle()
		b.StartTimer()
		out := fx.newOut("age")
		if msg, err := exec.Command(ageBin, "-d", "-i", fx.identity, "-o", out, fx.item).CombinedOutput(); err != nil {
			b.Fatalf("age: %v\n%s", err, msg)
		}
		b.StopTimer()
		os.Remove(out)
		b.StartTimer()
	}
}
