package bundle

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkDeps checks that the package, linked into the air-gapped
// client, depends on no networking package, no bbolt and nothing from the
// server.
func TestNoNetworkDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net" || strings.HasPrefix(dep, "net/") || strings.Contains(dep, "bbolt") ||
			strings.HasPrefix(dep, "sandyq/server") || strings.HasPrefix(dep, "golang.org/x/net") {
			t.Errorf("depends on %s", dep)
		}
	}
}
