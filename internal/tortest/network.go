package tortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Voting schedule of the test authorities: a consensus every 10 seconds.
const (
	votingInterval = 10 // seconds
	voteDelay      = 2  // seconds, for both the vote and the distribution delay
)

// Options configures [Start]. The zero value is a network of 3 authorities
// and 3 relays, with tor and tor-gencert found on PATH, in a new directory
// under os.TempDir.
type Options struct {
	// Tor and Gencert are the paths of the tor and tor-gencert executables.
	// Empty: looked up on PATH (see [Lookup]).
	Tor, Gencert string

	// Relays is the number of plain relays besides the 3 authorities (which
	// relay too). Zero means 3. Onion services need at least 4 relays in
	// all, which any value here gives.
	Relays int

	// Dir is the parent of the network's directory. Empty: os.TempDir.
	// Each node has a subdirectory with its torrc, notice.log and
	// stdout.log; [Network.Close] removes it all.
	Dir string

	// Now gives the launch time, from which the voting schedule is
	// shifted. Nil: time.Now.
	Now func() time.Time
}

// Network is a running private Tor network on 127.0.0.1. Its methods are
// safe for concurrent use.
type Network struct {
	dir    string
	tor    string
	common []string // torrc lines every node needs
	client *Client  // the network's own client

	mu     sync.Mutex // guards the fields below
	procs  []*proc    // every tor started, in start order
	n      int        // counter for client directory names
	killed []string   // nodes that needed SIGKILL at Close
}

// Start builds and starts a private Tor network and returns once its client
// has bootstrapped on a consensus that lists every relay. Give ctx a
// deadline: on this kind of machine start-up takes 10–20 s. On error every
// tor already started is stopped and the directory removed.
func Start(ctx context.Context, opts Options) (_ *Network, err error) {
	torPath, gencertPath, err := lookup(opts.Tor, opts.Gencert)
	if err != nil {
		return nil, err
	}
	relays := opts.Relays
	if relays <= 0 {
		relays = 3
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	auths, err := authorityKeys(ctx, torPath, gencertPath, 3)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "sandyq-tortest-")
	if err != nil {
		return nil, fmt.Errorf("tortest: creating network directory: %w", err)
	}
	n := &Network{dir: dir, tor: torPath}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	geoip := filepath.Join(dir, "geoip-empty")
	if err := os.WriteFile(geoip, nil, 0o600); err != nil {
		return nil, fmt.Errorf("tortest: writing empty geoip file: %w", err)
	}

	// Two ports per authority, one per relay and one SOCKS port; all held
	// open together so that they are distinct, then released for tor.
	ports, err := freePorts(2*len(auths) + relays + 1)
	if err != nil {
		return nil, err
	}
	n.common = commonLines(auths, ports)
	n.common = append(n.common, "GeoIPFile "+geoip, "GeoIPv6File "+geoip)

	// Shift the voting schedule so that the first vote happens right after
	// launch instead of up to a whole interval later.
	offset := (now().Unix() + 5 + 2*voteDelay) % votingInterval
	names := make([]string, 0, len(auths)+relays)
	for i := range auths {
		name := fmt.Sprintf("auth%d", i)
		names = append(names, name)
		nodeDir := filepath.Join(dir, name)
		if err := copyKeys(auths[i].keysDir, nodeDir); err != nil {
			return nil, err
		}
		lines := append(n.nodeLines(name, nodeDir), relayLines(name, ports[2*i])...)
		lines = append(lines,
			fmt.Sprintf("DirPort 127.0.0.1:%d", ports[2*i+1]),
			"AuthoritativeDirectory 1",
			"V3AuthoritativeDirectory 1",
			fmt.Sprintf("V3AuthVotingInterval %d seconds", votingInterval),
			fmt.Sprintf("V3AuthVoteDelay %d seconds", voteDelay),
			fmt.Sprintf("V3AuthDistDelay %d seconds", voteDelay),
			fmt.Sprintf("TestingV3AuthInitialVotingInterval %d seconds", votingInterval),
			fmt.Sprintf("TestingV3AuthInitialVoteDelay %d seconds", voteDelay),
			fmt.Sprintf("TestingV3AuthInitialDistDelay %d seconds", voteDelay),
			fmt.Sprintf("TestingV3AuthVotingStartOffset %d seconds", offset),
		)
		if err := n.start(name, nodeDir, lines); err != nil {
			return nil, err
		}
	}
	for i := range relays {
		name := fmt.Sprintf("relay%d", i)
		names = append(names, name)
		nodeDir := filepath.Join(dir, name)
		lines := append(n.nodeLines(name, nodeDir), relayLines(name, ports[2*len(auths)+i])...)
		lines = append(lines, "DirCache 0")
		if err := n.start(name, nodeDir, lines); err != nil {
			return nil, err
		}
	}

	if err := n.waitConsensus(ctx, fmt.Sprintf("127.0.0.1:%d", ports[1]), names); err != nil {
		return nil, err
	}
	c, err := n.startClient(ctx, "client", ports[len(ports)-1], nil)
	if err != nil {
		return nil, err
	}
	n.client = c
	return n, nil
}

// commonLines are the settings every node of the network needs, including
// any tor that joins it later (see [Network.TorrcLines]).
func commonLines(auths []authority, ports []int) []string {
	lines := []string{"TestingTorNetwork 1"}
	hsdirs := make([]string, len(auths))
	for i, a := range auths {
		lines = append(lines, fmt.Sprintf("DirAuthority auth%d orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
			i, ports[2*i], a.v3ident, ports[2*i+1], a.rsaFpr))
		hsdirs[i] = "$" + a.rsaFpr
	}
	return append(lines,
		"PathsNeededToBuildCircuits 0.67",
		"TestingDirAuthVoteExit *",
		// Only the authorities are directory caches (relays have DirCache
		// 0), so only they can store onion descriptors: voting HSDir for
		// every node made a third of the uploads and fetches hang.
		"TestingDirAuthVoteHSDir "+strings.Join(hsdirs, ","),
		"TestingDirAuthVoteGuard *",
		"TestingMinExitFlagThreshold 0",
		"V3AuthNIntervalsValid 2",
		"ClientUseIPv6 0",
	)
}

// nodeLines are the lines of every node this package starts: the common
// ones, its own directory and log, and a safety net that makes tor exit
// (within 15 s) if the test binary dies without closing the network.
func (n *Network) nodeLines(name, dir string) []string {
	lines := append([]string(nil), n.common...)
	return append(lines,
		"Nickname "+name,
		"DataDirectory "+dir,
		"Log notice file "+filepath.Join(dir, "notice.log"),
		"SafeLogging 0", // test logs: addresses help debugging
		"__OwningControllerProcess "+strconv.Itoa(os.Getpid()),
	)
}

// relayLines are the lines of authorities and relays.
func relayLines(name string, orPort int) []string {
	return []string{
		fmt.Sprintf("ORPort 127.0.0.1:%d", orPort),
		"Address 127.0.0.1",
		"AddressDisableIPv6 1",
		"AssumeReachable 1",
		"ExitPolicy reject *:*",
		"SocksPort 0",
		"ContactInfo " + name + "@tortest.invalid",
	}
}

func (n *Network) start(name, dir string, lines []string) error {
	p, err := startTor(n.tor, name, dir, lines)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	return nil
}

// freePorts asks the kernel for k distinct free TCP ports on 127.0.0.1.
func freePorts(k int) ([]int, error) {
	ports := make([]int, 0, k)
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("tortest: finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// checkAlive returns an error if any tor started so far has exited.
func (n *Network) checkAlive() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		if p.exited() {
			return p.exitError()
		}
	}
	return nil
}

// waitConsensus polls an authority's DirPort until its current microdesc
// consensus lists every node in names.
func (n *Network) waitConsensus(ctx context.Context, dirAddr string, names []string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	url := "http://" + dirAddr + "/tor/status-vote/current/consensus-microdesc"
	listed := 0
	for {
		if err := n.checkAlive(); err != nil {
			return err
		}
		if c, ok := fetchConsensus(ctx, hc, url); ok {
			listed = countListed(c, names)
			if listed == len(names) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: consensus lists %d of %d relays: %w", ErrNotReady, listed, len(names), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func fetchConsensus(ctx context.Context, hc *http.Client, url string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", false
	}
	// Tor answers "Accept-Encoding: gzip" with deflate, which net/http does
	// not decode; ask for no compression.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := hc.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	return string(b), true
}

// countListed counts the names that appear as router nicknames ("r" lines).
func countListed(consensus string, names []string) int {
	seen := map[string]bool{}
	for line := range strings.Lines(consensus) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "r" {
			seen[f[1]] = true
		}
	}
	k := 0
	for _, name := range names {
		if seen[name] {
			k++
		}
	}
	return k
}

// Dir returns the network's directory (one subdirectory per node, each
// with its torrc and notice.log). Close removes it.
func (n *Network) Dir() string { return n.dir }

// SocksAddr returns the host:port of the network's client SOCKS port.
func (n *Network) SocksAddr() string { return n.client.SocksAddr() }

// TorrcLines returns the torrc lines that any other tor needs to join this
// network: TestingTorNetwork, one DirAuthority line per authority, and the
// settings every node of the network shares (including empty GeoIP files).
// Append them to the torrc of, say, the tor that bine starts for sandyq
// serve. They set no ports, directories or logs.
func (n *Network) TorrcLines() []string { return append([]string(nil), n.common...) }

// HTTPClient is [HTTPClient] through the network's client.
func (n *Network) HTTPClient(timeout time.Duration) *http.Client {
	return HTTPClient(n.SocksAddr(), timeout)
}

// Get is [Get] through the network's client.
func (n *Network) Get(ctx context.Context, url string) (int, []byte, error) {
	return Get(ctx, n.SocksAddr(), url)
}

// Pids returns the process IDs of every tor this network started (clients
// included), for tests that check that Close leaves none behind.
func (n *Network) Pids() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	pids := make([]int, len(n.procs))
	for i, p := range n.procs {
		pids[i] = p.pid()
	}
	return pids
}

// Killed returns the names of the nodes that did not exit within 5 s of
// SIGTERM at Close and were killed. Tor authorities do this now and then
// (seen in about one Close in five, never for plain relays or clients);
// it is harmless for a test network, whose directory is removed anyway.
func (n *Network) Killed() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.killed...)
}

// Close stops every tor of the network (SIGTERM, then SIGKILL after 5 s, by
// recorded pid, all at once), waits for them, and removes the network's
// directory. A tor that needed SIGKILL is not an error (see [Network.Killed]);
// the error is for a signal that could not be sent or a directory that
// could not be removed.
func (n *Network) Close() error {
	n.mu.Lock()
	procs := n.procs
	n.procs = nil
	n.mu.Unlock()
	errs := make([]error, len(procs))
	killed := make([]bool, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { killed[i], errs[i] = p.stop() })
	}
	wg.Wait()
	n.mu.Lock()
	for i, k := range killed {
		if k {
			n.killed = append(n.killed, procs[i].name)
		}
	}
	n.mu.Unlock()
	if err := os.RemoveAll(n.dir); err != nil {
		errs = append(errs, fmt.Errorf("tortest: removing network directory: %w", err))
	}
	return errors.Join(errs...)
}
