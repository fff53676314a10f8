package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/server/datadir"
	"sandyq/server/store"
)

// TestMain runs the child process of TestRestoreKilled: the test binary
// re-executes itself with SANDYQ_BACKUP_CHILD set.
func TestMain(m *testing.M) {
	switch os.Getenv("SANDYQ_BACKUP_CHILD") {
	case "":
		os.Exit(m.Run())
	case "restore":
		os.Exit(restoreChild(os.Getenv("SANDYQ_BACKUP_FILE"), os.Getenv("SANDYQ_BACKUP_IDENTITY"), os.Getenv("SANDYQ_BACKUP_DST")))
	default:
		os.Exit(3)
	}
}

// restoreChild restores a backup file into dst.
func restoreChild(file, identity, dst string) int {
	id, err := age.ParseX25519Identity(identity)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	if _, err := Restore(f, []age.Identity{id}, dst); err != nil {
		fmt.Fprintln(os.Stderr, "restore:", err)
		return 1
	}
	return 0
}

// bigFixture adds about mib MiB of items to a fixture.
func bigFixture(t testing.TB, seed byte, mib int) *fixture {
	t.Helper()
	f := newFixture(t, seed)
	rnd := mrand.NewChaCha8([32]byte{seed, 1})
	buf := make([]byte, 1<<20)
	for range mib {
		rnd.Read(buf)
		commitItem(t, f.st, store.SourceID{2}, buf)
	}
	return f
}

// TestRestoreKilled kills a child process restoring a large backup with
// SIGKILL at moments spread over the whole restore. After each kill the
// destination is either absent (and a second Restore into it succeeds and
// removes what the killed one left) or complete and valid (and a second
// Restore is refused); never anything in between.
func TestRestoreKilled(t *testing.T) {
	mib, runs := 64, 12
	if raceEnabled || testing.Short() {
		mib, runs = 16, 6
	}
	f := bigFixture(t, 20, mib)
	id := newIdentity(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "big.backup")
	err := WriteFile(file, func(w io.Writer) error {
		_, err := Write(w, f.dir, f.st, []age.Recipient{id.Recipient()}, testNow)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := f.st.Stats()
	parent := t.TempDir()

	child := func(dst string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SANDYQ_BACKUP_CHILD=restore", "SANDYQ_BACKUP_FILE="+file,
			"SANDYQ_BACKUP_IDENTITY="+id.String(), "SANDYQ_BACKUP_DST="+dst)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}

	// One uninterrupted run says how long a restore takes here.
	start := time.Now()
	cmd, out := child(filepath.Join(parent, "whole"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child restore: %v\n%s", err, out)
	}
	whole := time.Since(start)
	checkComplete(t, filepath.Join(parent, "whole"), stats.Items)
	t.Logf("a %d MiB restore takes %v in a child process", mib, whole)

	keep := []string{"whole"}
	var absent, leftTemp, complete int
	for run := range runs {
		name := fmt.Sprintf("d%d", run)
		dst := filepath.Join(parent, name)
		keep = append(keep, name)
		// From a tenth of a restore to twice one: early kills, late ones, and
		// some after the end.
		delay := whole * time.Duration(run+1) * 2 / time.Duration(runs)
		cmd, out := child(dst)
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		var ee *exec.ExitError
		if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != -1) {
			t.Fatalf("run %d: child failed on its own: %v\n%s", run, err, out)
		}
		if _, err := os.Lstat(dst); err == nil {
			complete++
			checkComplete(t, dst, stats.Items)
			fd, _ := os.Open(file)
			_, err := Restore(fd, []age.Identity{id}, dst)
			fd.Close()
			wantErr(t, err, ErrDestination)
			continue
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
		absent++
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "."+name+".restore-") {
				leftTemp++
			}
		}
		fd, _ := os.Open(file)
		info, err := Restore(fd, []age.Identity{id}, dst)
		fd.Close()
		if err != nil {
			t.Fatalf("run %d: Restore after the kill: %v", run, err)
		}
		if info.Items != stats.Items {
			t.Fatalf("run %d: restored %d items, want %d", run, info.Items, stats.Items)
		}
		checkComplete(t, dst, stats.Items)
		noLeftovers(t, parent, keep...)
	}
	t.Logf("%d kills: %d left no directory (%d of them a temporary directory, removed by the next Restore), %d a complete one",
		runs, absent, leftTemp, complete)
	noLeftovers(t, parent, keep...)
}

// checkComplete fails unless dir is a complete restored data directory.
func checkComplete(t *testing.T, dir string, items int) {
	t.Helper()
	d, err := datadir.Open(dir)
	if err != nil {
		t.Fatalf("restored directory: %v", err)
	}
	if _, err := d.Pepper(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.InstanceKey(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(d.StorePath(), &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("restored store: %v", err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("restored store: %v", err)
	}
	if s, _ := st.Stats(); s.Items != items {
		t.Fatalf("restored store holds %d items, want %d", s.Items, items)
	}
}
