package tortest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds [Shared.Get]'s start-up of a network: generous for a
// loaded 2-core CI machine, where start-up normally takes 10–20 s.
const StartTimeout = 90 * time.Second

// Lookup finds tor and tor-gencert on PATH. It returns [ErrNoTor] if either
// is missing.
func Lookup() (tor, gencert string, err error) {
	return lookup("", "")
}

func lookup(tor, gencert string) (string, string, error) {
	var err error
	if tor == "" {
		if tor, err = exec.LookPath("tor"); err != nil {
			return "", "", fmt.Errorf("%w: %w", ErrNoTor, err)
		}
	}
	if gencert == "" {
		if gencert, err = exec.LookPath("tor-gencert"); err != nil {
			return "", "", fmt.Errorf("%w: %w", ErrNoTor, err)
		}
	}
	return tor, gencert, nil
}

// Require returns the path of tor. If tor or tor-gencert is missing, the
// test fails when the CI environment variable is set to a true value (CI
// must run the Tor tests) and is skipped otherwise.
func Require(t testing.TB) string {
	t.Helper()
	tor, _, err := Lookup()
	if err != nil {
		if inCI() {
			t.Fatalf("%v: CI is set, so the Tor tests must run (install tor: apt-get install tor)", err)
		}
		t.Skipf("skipping: %v (install tor, e.g. apt-get install tor, to run the Tor tests)", err)
	}
	return tor
}

func inCI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false", "False", "FALSE", "no":
		return false
	}
	return true
}

// Shared starts one network for a whole test package, on first use, and
// closes it from TestMain. Declare one in a _test.go file; its zero value
// is ready, and Options may be set before the first Get. See the package
// documentation for the pattern.
type Shared struct {
	Options Options

	once sync.Once
	mu   sync.Mutex // guards n and err
	n    *Network
	err  error
}

// Get returns the package's network, starting it the first time (bounded
// by [StartTimeout]). It calls [Require] first, so it skips or fails the
// test like Require when tor is missing; it fails the test if the network
// could not start (and every later Get fails the same way, without retrying).
func (s *Shared) Get(t testing.TB) *Network {
	t.Helper()
	Require(t)
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		n, err := Start(ctx, s.Options)
		s.mu.Lock()
		s.n, s.err = n, err
		s.mu.Unlock()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Fatalf("starting the private tor network: %v", s.err)
	}
	return s.n
}

// Close closes the network if Get started one. Call it from TestMain after
// m.Run.
func (s *Shared) Close() error {
	s.mu.Lock()
	n := s.n
	s.n = nil
	s.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Close()
}
