package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"sandyq/crypto/sign"
)

// TestScripts runs the command-line scripts in testdata/script/*.txtar with
// testscript (github.com/rogpeppe/go-internal/testscript). "exec sandyq"
// runs this package's main through the test binary (see TestMain). Each
// script runs in its own $WORK, with HOME=/no-home and TMPDIR=$WORK/.tmp.
//
// Besides testscript's own commands, the scripts have:
//
//	status N     the last "exec sandyq" exited with exactly code N
//	             (testscript's "! exec" only says it was not 0)
//	listdir DIR  list DIR recursively as stdout, one "path size mode" line
//	             per entry, sorted: with cp and cmp, asserts that a command
//	             changed nothing in DIR
//
// and the variables $NEWSROOM_PUB, a fresh newsroom public key, and
// $NEWSROOM_SECRET, its secret key.
//
// Exact exit codes: testscript keeps no exit code, and the child process
// cannot set a variable in the script, so sandyq records its own: Setup
// points $SANDYQ_TEST_STATUS_FILE (passed to every exec) at a file outside
// $WORK, sandyqMain writes its exit code there (after deleting the previous
// one first, so a crashed run leaves none), and status reads it.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		Setup:               setupScript,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":  cmdStatus,
			"listdir": cmdListdir,
		},
	})
}

func setupScript(e *testscript.Env) error {
	k, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		return err
	}
	e.Setenv("NEWSROOM_PUB", k.Public().String())
	e.Setenv("NEWSROOM_SECRET", k.String())

	dir, err := os.MkdirTemp("", "sandyq-status-")
	if err != nil {
		return err
	}
	e.Defer(func() { os.RemoveAll(dir) })
	e.Setenv(statusFileEnv, filepath.Join(dir, "status"))
	return nil
}

// cmdStatus implements "status N".
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	data, err := os.ReadFile(ts.Getenv(statusFileEnv))
	if errors.Is(err, fs.ErrNotExist) {
		ts.Fatalf("no exit status recorded: no exec sandyq ran, or it did not return from run")
	}
	ts.Check(err)
	got, err := strconv.Atoi(string(data))
	ts.Check(err)
	if got != want {
		ts.Fatalf("sandyq exited with status %d, want %d", got, want)
	}
}

// cmdListdir implements "listdir DIR".
func cmdListdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: listdir DIR")
	}
	out, err := listDir(ts.MkAbs(args[0]))
	ts.Check(err)
	_, err = ts.Stdout().Write(out)
	ts.Check(err)
}

// listDir lists every entry under dir as "path size mode", sorted: enough
// to tell whether a command changed anything in it.
func listDir(dir string) ([]byte, error) {
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		lines = append(lines, fmt.Sprintf("%s %d %v", filepath.ToSlash(rel), size, fi.Mode()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}
