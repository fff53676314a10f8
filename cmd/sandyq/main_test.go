package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"sandyq/internal/tortest"
)

// torNet is the private Tor network shared by the tests of this package.
var torNet tortest.Shared

// TestMain lets this test binary be the sandyq command as well as the tests:
// testscript.Main runs sandyqMain instead of the tests when the binary is
// started under the name "sandyq" (os.Args[0]). The CLI scripts start it so
// through the copy testscript.Main puts in $PATH ("exec sandyq"), the
// end-to-end test through the symlink from sandyqBin; both run exactly the
// code under test without a separate go build.
func TestMain(m *testing.M) {
	testscript.Main(closingTorNet{m}, map[string]func(){
		"sandyq": func() { os.Exit(sandyqMain()) },
	})
}

// closingTorNet runs the tests, then stops the shared Tor network:
// testscript.Main calls os.Exit itself, so this is its last chance.
type closingTorNet struct{ m *testing.M }

func (c closingTorNet) Run() int {
	code := c.m.Run()
	if err := torNet.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// statusFileEnv names the file in which sandyqMain records its exit code,
// if set. testscript's exec only tells whether a command failed; the
// scripts' "status N" command (see TestScripts) reads this file to check the
// exact code.
const statusFileEnv = "SANDYQ_TEST_STATUS_FILE"

// sandyqMain is main, returning the exit code instead of exiting so that it
// can be recorded in $SANDYQ_TEST_STATUS_FILE: the same signal context, the
// same env and the same run as main in main.go; keep the two in step.
func sandyqMain() int {
	file := os.Getenv(statusFileEnv)
	if file != "" {
		// A run that dies before recording its code (a panic) must not
		// leave the previous run's code behind.
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "sandyq test: %v\n", err)
			return exitError
		}
	}
	code := runMain()
	if file != "" {
		if err := os.WriteFile(file, []byte(strconv.Itoa(code)), 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "sandyq test: %v\n", err)
		}
	}
	return code
}

// sandyqBin returns the path of a "sandyq" executable in a fresh directory:
// a symlink to this test binary, which TestMain runs as the command because
// of its name.
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

// sandyqEnv returns os.Environ() with the given extra variables ("K=V")
// appended, for a sandyq started from sandyqBin.
func sandyqEnv(extra ...string) []string {
	return append(os.Environ(), extra...)
}
