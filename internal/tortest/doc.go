// Package tortest runs a private Tor network on 127.0.0.1 for tests.
//
// [Start] launches 3 directory authorities, 3 relays (more with
// [Options.Relays]) and one client with a SOCKS port, each a system tor
// process in its own directory under a fresh temporary directory, on ports
// the kernel chose (never 9050/9051), so that several test packages can run
// networks at the same time. It returns once an authority's consensus lists
// every relay and the client has bootstrapped on it: about 10 s here, and
// 15–16 s to the first successful fetch from a fresh onion service.
//
// Nothing leaves the machine: every address is 127.0.0.1, and the nodes
// know only the test authorities.
//
// # Joining the network
//
// Any other tor joins the network with the lines of [Network.TorrcLines]
// (TestingTorNetwork, the DirAuthority lines, and the shared settings).
// This is how a test runs the tor that sandyq serve starts through
// server/onion: pass the lines as its extra torrc lines.
//
// Fetch through the network's client with [Network.Get] or
// [Network.HTTPClient]. A fresh onion service's descriptor takes a moment to
// reach the directories: these retry while tor answers with one of the
// transient refusals (SOCKS 0xF0 descriptor not found, 0xF2, 0xF3, 0xF7; see
// [SOCKSError.Transient]) until the context ends. A refusal that will not
// change, such as 0xF4 (client authorization missing), is returned at once
// as a *[SOCKSError]. [Network.StartClient] starts more clients, for example
// one with a ClientOnionAuthDir.
//
// # One network per test package
//
// Starting a network costs 10–20 s and a few CPU-seconds, so a package
// shares one between its tests. Declare a [Shared] in a _test.go file and
// close it from TestMain; tests call Get, which skips (or fails under CI)
// when tor is missing and starts the network on first use:
//
//	var torNet tortest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if err := torNet.Close(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(code)
//	}
//
//	func TestOnion(t *testing.T) {
//		n := torNet.Get(t)
//		// start a service with n.TorrcLines(), fetch with n.Get(ctx, url)
//	}
//
// Tests that do not touch Tor never start it. The mutable state lives in
// the test package's variable, not in this package.
//
// # Requirements
//
// tor and tor-gencert on PATH (Debian: apt-get install tor). [Require]
// skips a test when they are missing, and fails it when the CI environment
// variable is set, so that CI cannot silently skip the Tor tests.
//
// The three authorities' keys (tor-gencert, RSA-3072: seconds to make) are
// generated once and cached under os.TempDir in
// sandyq-tortest-authorities-v1-uidN, reused for 30 days. Concurrent test
// binaries share the cache safely: each identity is written to a private
// directory and published with one rename.
//
// # Shutdown
//
// [Network.Close] sends SIGTERM to every tor by the pid recorded at start,
// SIGKILL to any still running 5 s later, waits for all of them, and
// removes the directory. If the test binary dies without Close (a panic, a
// go test timeout), every tor exits on its own within 15 s: each is started
// with __OwningControllerProcess set to the test binary's pid.
//
// # Settings
//
// The settings come from measurements on a 2-core machine with Debian's tor
// 0.4.9 (see TOR-TESTNET.md in the project notes): TestingTorNetwork; a 10 s
// voting interval with 2 s vote and distribution delays, shifted with
// TestingV3AuthVotingStartOffset so the first vote comes right after launch;
// TestingDirAuthVote{Exit,Guard} *; TestingDirAuthVoteHSDir for the
// authorities only (plain relays have DirCache 0 and cannot store onion
// descriptors: uploads to them never finish); PathsNeededToBuildCircuits 0.67;
// AssumeReachable 1; ExitPolicy reject *:*; DirCache 0 on plain relays;
// empty GeoIP files. The client's SocksPort has ExtendedErrors. Each node
// writes notice.log in its directory, unscrubbed (SafeLogging 0): this is
// test traffic only.
package tortest
