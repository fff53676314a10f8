// Package testenv decides what a test does when an outside program it needs
// (tor, chromium, the age CLI) is missing.
//
// In CI (the CI environment variable is set to a true value) a missing program
// is a test failure: the CI script installs everything the tests need, so a
// missing binary means the script is broken and must fail loudly. On a
// developer's machine the test is skipped with a message that names the
// program and how to install it.
package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// InCI reports whether the tests run under CI, where every outside program
// must be present.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// RequireBinary returns the path of the named program on PATH. If it is
// missing, the test fails in CI and is skipped elsewhere; hint says how to
// install it.
func RequireBinary(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if InCI() {
		t.Fatalf("%s not found on PATH in CI: %s", name, hint)
	}
	t.Skipf("skipping: %s not found on PATH (%s)", name, hint)
	return ""
}
