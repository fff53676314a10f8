package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworking checks that sandyq-client links no networking code: no
// "net" package (net/http, net/netip, …), no TLS, and nothing from sandyq's
// server side anywhere in its dependency graph. "go list -deps" without
// -test lists the binary's dependencies only, so tests may import more.
func TestNoNetworking(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "sandyq/cmd/sandyq-client").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("only %d dependencies listed", len(deps))
	}
	found := false
	for _, d := range deps {
		switch {
		case d == "net", strings.HasPrefix(d, "net/"),
			d == "crypto/tls", strings.HasPrefix(d, "crypto/tls/"),
			strings.HasPrefix(d, "vendor/golang.org/x/net/"),
			strings.HasPrefix(d, "golang.org/x/net/"),
			strings.HasPrefix(d, "github.com/cretz/bine"),
			d == "go.etcd.io/bbolt",
			strings.HasPrefix(d, "sandyq/server"):
			t.Errorf("sandyq-client depends on %s", d)
		case d == "sandyq/cmd/sandyq-client":
			found = true
		}
	}
	if !found {
		t.Fatal("go list did not list the command itself")
	}
}
