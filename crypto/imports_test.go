// Package crypto_test holds tests that apply to every sandyq/crypto package.
package crypto_test

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbidden may not appear anywhere in the dependency graph of a crypto
// package (age's own dependencies included).
var forbidden = []string{"net", "net/http", "go.etcd.io/bbolt", "flag"}

// forbiddenDirect may not be imported by a crypto package's own (non-test)
// files; age may pull them in.
var forbiddenDirect = []string{"os", "flag", "net", "net/http", "os/exec", "go.etcd.io/bbolt"}

func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}", "sandyq/crypto/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(pkgs) < 7 {
		t.Fatalf("only %d crypto packages found", len(pkgs))
	}
	for _, line := range pkgs {
		f := strings.Split(line, "\t")
		path, dir, files := f[0], f[1], strings.Fields(f[2])
		deps, err := exec.Command("go", "list", "-deps", path).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", path, err)
		}
		for _, d := range strings.Fields(string(deps)) {
			for _, bad := range forbidden {
				if d == bad {
					t.Errorf("%s depends on %s", path, bad)
				}
			}
		}
		fset := token.NewFileSet()
		for _, name := range files {
			af, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbiddenDirect {
					if p == bad {
						t.Errorf("%s/%s imports %q", path, name, p)
					}
				}
			}
		}
	}
}
