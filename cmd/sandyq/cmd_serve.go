package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/crypto/sourcekey"
	"sandyq/server/datadir"
	"sandyq/server/japi"
	"sandyq/server/journalists"
	"sandyq/server/keyring"
	"sandyq/server/onion"
	"sandyq/server/store"
	"sandyq/server/web"
)

const serveUsage = `usage: sandyq serve -d DIR [--tor PATH] [--torrc FILE] [--dev-listen ADDR]
                    [--dev-journalist-listen ADDR]

Serves the source interface and the journalist API as two Tor v3 onion
services until interrupted (SIGINT or SIGTERM), then shuts down gracefully.
tor is started with its own data directory inside DIR, and nothing but tor
listens: the HTTP servers sit on unix sockets. The addresses are printed on
stdout: the source onion on the first line, the journalist onion on the
second.

The source onion has proof-of-work DoS defense and introduction rate limits.
The journalist onion has v3 client authorization: only the tor of a
registered journalist ("sandyq admin journalist add") can find it; it is
published once the first journalist is registered. Admin commands reach the
running server through DIR/control.sock.

While no valid signed recipient set is installed, the source pages are
served but the submission form is closed.

Flags:
    -d DIR             data directory made by "sandyq init"
    --tor PATH         tor executable (default: tor on PATH)
    --torrc FILE       extra torrc lines appended to tor's configuration
                       (bridges, Sandbox 1, a private test network)
    --dev-listen ADDR  serve over plain HTTP on a loopback address instead of
                       Tor, for development and tests only: NOT ANONYMOUS
    --dev-journalist-listen ADDR
                       with --dev-listen: serve the journalist API on this
                       loopback address too (requests are still signed)
    --memory-limit MIB soft limit of the Go heap in MiB (default 256: 128 for
                       the Argon2id of two concurrent logins, 128 for uploads);
                       ignored when GOMEMLIMIT is set
    --kdf-test         use a cheap codename key derivation (tests only: UNSAFE)

Examples:
    sandyq serve -d /var/lib/sandyq
    sandyq serve -d /var/lib/sandyq --torrc /etc/sandyq/bridges.torrc
    sandyq serve -d ./demo --dev-listen 127.0.0.1:8080
`

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("serve")
	dir := fs.String("d", "", "data directory")
	torPath := fs.String("tor", "", "tor executable")
	torrc := fs.String("torrc", "", "extra torrc file")
	devListen := fs.String("dev-listen", "", "loopback address for plain HTTP")
	devJournalist := fs.String("dev-journalist-listen", "", "loopback address for the journalist API")
	kdfTest := fs.Bool("kdf-test", false, "cheap key derivation for tests")
	memLimit := fs.Int64("memory-limit", 256, "soft heap limit in MiB")
	if err := parseFlags(e, fs, serveUsage, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr(e, "serve", "missing -d DIR")
	}
	if fs.NArg() > 0 {
		return usageErr(e, "serve", "unexpected argument %q", fs.Arg(0))
	}
	if *devListen != "" {
		if err := checkLoopback(*devListen); err != nil {
			return usageErr(e, "serve", "--dev-listen: %v", err)
		}
	}
	if *devJournalist != "" {
		if *devListen == "" {
			return usageErr(e, "serve", "--dev-journalist-listen needs --dev-listen")
		}
		if err := checkLoopback(*devJournalist); err != nil {
			return usageErr(e, "serve", "--dev-journalist-listen: %v", err)
		}
	}
	if *memLimit <= 0 {
		return usageErr(e, "serve", "--memory-limit must be positive")
	}
	if e.getenv("GOMEMLIMIT") == "" {
		// bbolt allocates fresh page buffers at every commit; a soft limit
		// keeps the collector from lagging that garbage under load.
		debug.SetMemoryLimit(*memLimit << 20)
	}
	var extraTorrc []string
	if *torrc != "" {
		lines, err := readTorrc(*torrc)
		if err != nil {
			return err
		}
		extraTorrc = lines
	}

	d, err := datadir.Open(*dir)
	if err != nil {
		return err
	}
	pepper, err := d.Pepper()
	if err != nil {
		return err
	}
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		return err
	}
	defer st.Close()

	kr, err := openKeyring(e, d, st)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := web.Config{
		Store:        st,
		Pepper:       pepper,
		Rand:         e.rand,
		Logger:       logger,
		DiskFree:     func() (uint64, error) { return diskFree(d.Path()) },
		RecipientSet: recipientSetFunc(kr),
	}
	if *kdfTest {
		warnf(e, "--kdf-test: codenames are derived with a cheap cost, for tests only")
		cfg.KDF = testKDF()
	}
	h, err := web.New(cfg)
	if err != nil {
		return err
	}
	srv := web.NewServer(h, cfg.Limits)

	reg, err := journalists.Load(st)
	if err != nil {
		return err
	}
	inst, err := d.InstanceKey()
	if err != nil {
		return err
	}
	jh, err := japi.New(japi.Config{Store: st, Registry: reg, InstanceKey: inst, Keyring: kr, Logger: logger})
	if err != nil {
		return err
	}
	jsrv := journalistServer(jh)
	o := &ops{d: d, st: st, reg: reg, kr: kr, now: time.Now, serving: true}

	// Keys a rotation stopped by a crash left behind, and old addresses
	// whose grace ended while the server was down, go first.
	if err := cleanOnions(d, st, time.Now()); err != nil {
		return fmt.Errorf("onion services: %w", err)
	}
	errc := make(chan error, 4)
	serve := func(s *http.Server, l net.Listener) {
		// A retired onion's listener is closed on purpose (net.ErrClosed).
		if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errc <- err
		}
	}
	if *devListen != "" {
		ln, err := net.Listen("tcp", *devListen)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", *devListen, err)
		}
		warnf(e, "DEVELOPMENT MODE: serving plain HTTP on %s without Tor; sources are NOT anonymous", ln.Addr())
		fmt.Fprintf(e.stdout, "http://%s/\n", ln.Addr())
		go serve(srv, ln)
		if *devJournalist != "" {
			jln, err := net.Listen("tcp", *devJournalist)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", *devJournalist, err)
			}
			warnf(e, "DEVELOPMENT MODE: serving the journalist API on %s without Tor", jln.Addr())
			fmt.Fprintf(e.stdout, "http://%s/\n", jln.Addr())
			go serve(jsrv, jln)
		}
	} else {
		tor, err := onion.Start(ctx, onion.Config{
			DataDir:    d.Join(datadir.OnionDir),
			Tor:        *torPath,
			ExtraTorrc: extraTorrc,
			Log:        prefixWriter(e.stderr, "sandyq: tor: "),
		})
		if err != nil {
			if errors.Is(err, onion.ErrNoTor) {
				hintf(e, "install tor (apt-get install tor) or give its path with --tor")
			}
			return fmt.Errorf("starting tor: %w", err)
		}
		defer tor.Close()
		m := &onionManager{e: e, d: d, st: st, tor: tor, src: make(chan net.Listener, 16), jmux: newMuxListener(),
			reg: reg, services: map[string]*onion.Service{}, roles: map[string]string{}}
		o.onions, o.onionAuth = m, m.setJournalistAuth
		go func() {
			for l := range m.src {
				go serve(srv, l)
			}
		}()
		go serve(jsrv, m.jmux)
		state, err := loadOnionState(st)
		if err != nil {
			return err
		}
		infof(e, "publishing the onion services (this can take a minute)")
		for _, role := range onionRoles {
			r := state[role]
			for _, name := range append([]string{r.Current}, retiringNames(r)...) {
				if err := m.publish(ctx, role, name); err != nil {
					return fmt.Errorf("publishing the %s onion service: %w", role, err)
				}
			}
		}
		if len(reg.OnionKeys()) == 0 {
			warnf(e, "no journalist is registered: the journalist onion is published once one is (\"sandyq admin journalist add\")")
		}
		for _, role := range onionRoles {
			addr, err := onion.KeyAddress(d.Join(datadir.OnionDir), state[role].Current)
			if err != nil {
				return fmt.Errorf("%s onion key: %w", role, err)
			}
			fmt.Fprintf(e.stdout, "http://%s/\n", addr)
			for _, x := range state[role].Retiring {
				if a, err := onion.KeyAddress(d.Join(datadir.OnionDir), x.Name); err == nil {
					infof(e, "also serving the old %s address %s until %s", role, a, x.Until.Format(time.RFC3339))
				}
			}
		}
	}
	if f, ok := e.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}

	ctl, err := listenControl(ctx, e, d, o)
	if err != nil {
		return err
	}
	defer ctl.Close()
	go janitor(ctx, e, o)

	infof(e, "serving; stop with Ctrl-C or SIGTERM")
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	infof(e, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := jsrv.Shutdown(sctx); err != nil {
		jsrv.Close()
	}
	h.Close() // abort the source API's open reservations before the store closes
	return nil
}

// journalistServer is the HTTP server of the journalist API. Bundles can
// be gigabytes over a slow circuit, so there is no write timeout; only
// registered journalists' tors reach it (onion client authorization), and
// every request is signed.
func journalistServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:                      h,
		ReadHeaderTimeout:            30 * time.Second,
		ReadTimeout:                  30 * time.Minute,
		IdleTimeout:                  2 * time.Minute,
		MaxHeaderBytes:               16 << 10,
		ErrorLog:                     log.New(io.Discard, "", 0),
		DisableGeneralOptionsHandler: true,
	}
}

// openKeyring loads the verified recipient sets and says what is missing.
func openKeyring(e *env, d *datadir.Dir, st *store.Store) (*keyring.Keyring, error) {
	text, err := d.NewsroomKey()
	if err != nil {
		return nil, err
	}
	var newsroom *sign.PublicKey
	if text != "" {
		newsroom, err = sign.ParsePublicKey(text, sign.Newsroom)
		if err != nil {
			return nil, fmt.Errorf("pinned newsroom key: %w", err)
		}
	}
	kr, err := keyring.New(st, newsroom, time.Now)
	if err != nil {
		return nil, err
	}
	if _, err := kr.Current(); err != nil {
		warnf(e, "%v: the submission form is closed", err)
		if newsroom == nil {
			hintf(e, "pin the newsroom key with \"sandyq admin -d %s newsroom pin PUB\"", d.Path())
		}
		hintf(e, "install a set signed on the air-gapped laptop with \"sandyq admin -d %s recipients install SET\"", d.Path())
	}
	return kr, nil
}

func recipientSetFunc(kr *keyring.Keyring) func() (*recipients.Signed, []age.Recipient, error) {
	return func() (*recipients.Signed, []age.Recipient, error) {
		s, err := kr.Current()
		if err != nil {
			return nil, nil, err
		}
		return s.Signed, s.Recipients, nil
	}
}

// checkLoopback refuses any --dev-listen address that is not loopback:
// development mode must never be reachable from a network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:PORT)", addr)
	}
	return nil
}

// readTorrc reads an admin's extra torrc lines, without comments.
func readTorrc(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading --torrc: %w", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading --torrc: %w", err)
	}
	return lines, nil
}

// diskFree reports the bytes available to unprivileged writers under path.
func diskFree(path string) (uint64, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return 0, err
	}
	return s.Bavail * uint64(s.Bsize), nil
}

// prefixWriter prefixes every line written to w.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
		}
		pr.CloseWithError(sc.Err())
	}()
	return pw
}

var _ http.Handler = (*web.Handler)(nil)

// sourceService and journalistService name the onion services and their
// keys in DIR/onion.
const (
	sourceService     = "source"
	journalistService = "journalist"
)

// testKDF is the cheap derivation cost behind --kdf-test.
func testKDF() sourcekey.Params { return sourcekey.TestParams() }
