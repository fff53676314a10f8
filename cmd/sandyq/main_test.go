package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sandyq/internal/tortest"
)

// asMainEnv, when set to "1" in the environment of this test binary, makes it
// run as the sandyq command instead of the tests. The CLI scripts and the
// end-to-end test start it that way (through a symlink named sandyq), so they
// run exactly the code under test without a separate go build.
const asMainEnv = "SANDYQ_TEST_AS_MAIN"

// torNet is the private Tor network shared by the tests of this package.
var torNet tortest.Shared

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main() // exits
		return
	}
	code := m.Run()
	if err := torNet.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// sandyqBin returns the path of a "sandyq" executable in a fresh directory:
// a symlink to this test binary, to be run with asMainEnv=1 in its
// environment (see sandyqEnv).
func sandyqBin(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sandyq")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// sandyqEnv returns os.Environ() with asMainEnv set and the given extra
// variables ("K=V") appended.
func sandyqEnv(extra ...string) []string {
	env := append(os.Environ(), asMainEnv+"=1")
	return append(env, extra...)
}
