package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
	"sandyq/server/keyring"
	"sandyq/server/onion"
	"sandyq/server/store"
	"sandyq/server/web"
)

const serveUsage = `usage: sandyq serve -d DIR [--tor PATH] [--torrc FILE] [--dev-listen ADDR]

Serves the source interface as a Tor v3 onion service until interrupted
(SIGINT or SIGTERM), then shuts down gracefully. tor is started through bine
with its own data directory inside DIR; the onion address is printed on
stdout, and nothing but tor listens: the web server sits on a unix socket.
The onion service has proof-of-work DoS defense and introduction rate limits.

While no valid signed recipient set is installed, the source pages are
served but the submission form is closed.

Flags:
    -d DIR             data directory made by "sandyq init"
    --tor PATH         tor executable (default: tor on PATH)
    --torrc FILE       extra torrc lines appended to tor's configuration
                       (bridges, Sandbox 1, a private test network)
    --dev-listen ADDR  serve over plain HTTP on a loopback address instead of
                       Tor, for development and tests only: NOT ANONYMOUS
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

	var ln net.Listener
	var tor *onion.Tor
	if *devListen != "" {
		ln, err = net.Listen("tcp", *devListen)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", *devListen, err)
		}
		warnf(e, "DEVELOPMENT MODE: serving plain HTTP on %s without Tor; sources are NOT anonymous", ln.Addr())
		fmt.Fprintf(e.stdout, "http://%s/\n", ln.Addr())
	} else {
		tor, err = onion.Start(ctx, onion.Config{
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
		infof(e, "publishing the source onion service (this can take a minute)")
		svc, err := tor.Publish(ctx, onion.ServiceOptions{
			Name:       sourceService,
			PoW:        true,
			IntroRate:  25,
			IntroBurst: 200,
			MaxStreams: 20,
		})
		if err != nil {
			return fmt.Errorf("publishing the source onion service: %w", err)
		}
		ln = svc.Listener()
		fmt.Fprintf(e.stdout, "http://%s/\n", svc.Addr())
	}
	if f, ok := e.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
	return nil
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

// sourceService names the source onion service and its key in DIR/onion.
const sourceService = "source"

// testKDF is the cheap derivation cost behind --kdf-test.
func testKDF() sourcekey.Params { return sourcekey.TestParams() }
