package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sandyq/internal/socks"
	"sandyq/server/onion"
)

// The online tools (fetch, push, submit) reach the server through tor:
// a tor they start themselves (the default: a fresh tor with its own data
// directory, listening on a unix SOCKS socket only, stopped when the
// command ends), or an existing SOCKS port given with --socks (Tor
// Browser's 9150, a system tor's 9050). --dev talks plain HTTP to a
// loopback address instead, for development and tests.

// netFlags are the flags every online tool shares.
type netFlags struct {
	server string // --server: an onion address, or a loopback URL with --dev
	socks  string // --socks HOST:PORT or unix:PATH
	torrc  string // --torrc FILE: extra lines for the tor we start
	tor    string // --tor PATH
	dev    bool   // --dev: allow a loopback server, without tor
}

const netFlagsHelp = `    --server ADDR      the server's onion address (56 characters, then .onion)
    --socks HOST:PORT  use the tor already running with this SOCKS port (or
                       unix:PATH) instead of starting one
    --torrc FILE       extra torrc lines for the tor this command starts
                       (bridges, or a test network's DirAuthority lines)
    --tor PATH         the tor executable (default: tor on PATH)
    --dev              allow --server http://127.0.0.1:PORT: plain HTTP on
                       loopback, no tor (development and tests only)
`

// register adds the shared flags to fs.
func (nf *netFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&nf.server, "server", "", "server address")
	fs.StringVar(&nf.socks, "socks", "", "existing tor SOCKS port")
	fs.StringVar(&nf.torrc, "torrc", "", "extra torrc file")
	fs.StringVar(&nf.tor, "tor", "", "tor executable")
	fs.BoolVar(&nf.dev, "dev", false, "allow a loopback server without tor")
}

// onionAuth is a journalist's onion client-authorization secret (x25519,
// tor's base32 form), given to the tor we start so that it can read the
// journalist onion's descriptor.
type onionAuth struct {
	key string
}

// remote is a server the online tools talk to.
type remote struct {
	Base  string       // "http://<56>.onion" or, with --dev, "http://127.0.0.1:PORT"
	HTTP  *http.Client // no redirects, no proxy from the environment
	onion bool
	close func() error
}

// Close stops the tor this command started, if any, and removes its
// data directory.
func (r *remote) Close() error {
	if r.close == nil {
		return nil
	}
	return r.close()
}

// connectTimeout bounds reaching the server: tor's retries while a
// descriptor is fetched, introduction and rendezvous. It does not bound a
// transfer.
const connectTimeout = 2 * time.Minute

// bootstrapTimeout bounds starting our own tor.
const bootstrapTimeout = 3 * time.Minute

// serverBase checks an ADDR as the user gave it and returns the base URL.
func (nf *netFlags) serverBase() (base string, isOnion bool, err error) {
	s := strings.TrimSpace(nf.server)
	if s == "" {
		return "", false, errors.New("--server is required")
	}
	if rest, ok := strings.CutPrefix(s, "http://"); ok {
		s = rest
	} else if strings.Contains(s, "://") {
		return "", false, errors.New("--server: only http:// addresses (the onion encrypts and authenticates the connection)")
	}
	s = strings.TrimSuffix(s, "/")
	host := strings.ToLower(s)
	if name, ok := strings.CutSuffix(host, ".onion"); ok {
		if !validOnionV3(name) {
			return "", false, errors.New("--server: not a v3 onion address (56 letters and digits 2-7, then .onion)")
		}
		return "http://" + host, true, nil
	}
	if !nf.dev {
		return "", false, errors.New("--server must be an .onion address (a loopback address needs --dev)")
	}
	h, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return "", false, errors.New("--server: with --dev, give http://127.0.0.1:PORT")
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return "", false, errors.New("--server: with --dev, only a loopback IP address is allowed")
	}
	return "http://" + net.JoinHostPort(h, port), false, nil
}

// validate checks the address flags before any other work, as a usage
// error of cmd.
func (nf *netFlags) validate(e *env, cmd string) error {
	if _, _, err := nf.serverBase(); err != nil {
		return usageErr(e, cmd, "%v", err)
	}
	return nil
}

// validOnionV3 reports whether name is the 56-character base32 label of a
// v3 onion address (lower case).
func validOnionV3(name string) bool {
	if len(name) != 56 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return name[55] == 'd' // version byte 3 makes the last character 'd'
}

// connect returns a client for the server: directly with --dev, through
// --socks, or through a tor started for this command (told auth, if any).
func (nf *netFlags) connect(ctx context.Context, e *env, auth *onionAuth) (*remote, error) {
	base, isOnion, err := nf.serverBase()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if !isOnion {
		warnf(e, "--dev: talking plain HTTP to %s without tor", strings.TrimPrefix(base, "http://"))
		return &remote{Base: base, HTTP: httpClient(func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		})}, nil
	}
	if nf.socks != "" {
		network, addr := "tcp", nf.socks
		if p, ok := strings.CutPrefix(nf.socks, "unix:"); ok {
			network, addr = "unix", p
		} else if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: --socks: want HOST:PORT or unix:PATH", errUsage)
		}
		return &remote{Base: base, onion: true, HTTP: httpClient(socksDialer(network, addr))}, nil
	}
	return nf.startTor(ctx, e, base, auth)
}

// startTor starts a tor for this command only.
func (nf *netFlags) startTor(ctx context.Context, e *env, base string, auth *onionAuth) (_ *remote, err error) {
	var extra []string
	if nf.torrc != "" {
		if extra, err = readTorrc(nf.torrc); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "sandyq-tor-")
	if err != nil {
		return nil, fmt.Errorf("creating tor's data directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if auth != nil {
		authDir := filepath.Join(dir, "auth")
		if err := os.Mkdir(authDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating tor's client-auth directory: %w", err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), ".onion")
		line := name + ":descriptor:x25519:" + auth.key + "\n"
		if err := os.WriteFile(filepath.Join(authDir, "server.auth_private"), []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("writing tor's client-auth key: %w", err)
		}
		extra = append(extra, "ClientOnionAuthDir "+authDir)
	}
	sock := filepath.Join(dir, "socks.sock")
	if e.isTerminal(e.stderr) {
		infof(e, "starting tor (this can take a minute)")
	}
	tor, err := onion.Start(ctx, onion.Config{
		DataDir:    dir,
		Tor:        nf.tor,
		SocksPort:  "unix:" + sock + " ExtendedErrors",
		ExtraTorrc: extra,
	})
	if err != nil {
		if errors.Is(err, onion.ErrNoTor) {
			hintf(e, "install tor (Debian: apt install tor), or pass --socks with a running tor's SOCKS port")
		}
		return nil, fmt.Errorf("starting tor: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	if err := tor.WaitBootstrapped(bctx); err != nil {
		tor.Close()
		hintf(e, "tor could not reach the Tor network; if it is blocked here, add bridges with --torrc")
		return nil, fmt.Errorf("starting tor: %w", err)
	}
	return &remote{
		Base:  base,
		onion: true,
		HTTP:  httpClient(socksDialer("unix", sock)),
		close: func() error {
			err := tor.Close()
			return errors.Join(err, os.RemoveAll(dir))
		},
	}, nil
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// socksDialer dials through a SOCKS proxy, retrying while an onion
// service's descriptor is not reachable yet, for at most connectTimeout.
func socksDialer(network, proxy string) dialFunc {
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		return socks.DialRetry(ctx, network, proxy, addr)
	}
}

// httpClient is an HTTP client that dials with dial, never follows a
// redirect, and ignores HTTP_PROXY and friends.
func httpClient(dial dialFunc) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dial,
			MaxIdleConnsPerHost:   1,
			ResponseHeaderTimeout: 5 * time.Minute,
			DisableCompression:    true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// explainNetError turns a failure to reach the server into a message a
// journalist or a source can act on.
func explainNetError(e *env, err error) error {
	var se *socks.Error
	if errors.As(err, &se) {
		switch se.Code {
		case socks.OnionMissingAuth, socks.OnionWrongAuth:
			hintf(e, "this onion needs client authorization: check --access-key (its onion-auth line) and that the admin has added this journalist")
			return errors.New("the server refused this tor's onion authorization")
		case socks.OnionDescNotFound, socks.OnionIntroFailed, socks.OnionRendFailed, socks.OnionIntroTimedOut:
			hintf(e, "the server may be down or the address mistyped; try again later")
			return fmt.Errorf("could not reach the onion service: %v", se)
		case socks.OnionBadAddress:
			return errors.New("tor says the onion address is not valid")
		}
	}
	return fmt.Errorf("reaching the server: %w", err)
}
