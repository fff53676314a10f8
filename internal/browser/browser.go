package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"sandyq/internal/testenv"
)

// DefaultTimeout bounds each operation of a [Browser] whose [Options.Timeout]
// is zero. It is long enough for a page load of a few tens of MiB over a
// private Tor network on a busy machine.
const DefaultTimeout = 60 * time.Second

// startTimeout bounds the start of the browser process and its first tab.
const startTimeout = 60 * time.Second

// executables are the names under which Chromium is looked up on PATH, in
// order. Debian ships "chromium", Ubuntu's snap "chromium-browser", Google
// "google-chrome".
var executables = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

const installHint = "install Debian's chromium package: apt-get install -y chromium"

// Require returns the path of a Chromium or Chrome executable on PATH. If there
// is none, the test fails when the CI environment variable is true and is
// skipped otherwise (see [testenv.RequireBinary]).
func Require(t testing.TB) string {
	t.Helper()
	for _, name := range executables {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return testenv.RequireBinary(t, executables[0], installHint)
}

// Options configures [Start]. The zero value is a browser that reaches
// 127.0.0.1 directly, with [DefaultTimeout].
type Options struct {
	// SocksProxy is the address of a SOCKS5 proxy, such as a tor client's
	// SocksPort, as "127.0.0.1:PORT". Host names are then resolved by the
	// proxy (Chromium's SOCKS5 client always sends the name, never an IP
	// address it looked up), so .onion names work. Chromium still connects
	// to loopback addresses such as http://127.0.0.1:PORT/ directly: only
	// names go through the proxy. Zero: no proxy.
	SocksProxy string

	// Timeout bounds each operation: a navigation, a form submission with
	// its upload and the load of the page that answers it, a query. Zero:
	// [DefaultTimeout].
	Timeout time.Duration

	// WindowWidth and WindowHeight set the size of the viewport in CSS
	// pixels. Zero: 1280×1024.
	WindowWidth, WindowHeight int
}

// Browser is a headless Chromium with JavaScript disabled, driven through the
// Chrome DevTools protocol over a pipe (no debugging port is opened). It has
// one tab. Its methods are not safe for concurrent use: a test drives it from
// one goroutine, like a person drives a browser.
type Browser struct {
	timeout time.Duration
	dir     string // holds the profile and the home directory of the browser

	allocCancel context.CancelFunc
	ctx         context.Context // chromedp context of the tab
	cancel      context.CancelFunc
	pid         int

	// status is the HTTP status of the last document that a navigation or
	// a submission loaded; 0 if there was none.
	status int

	closeOnce sync.Once
	closeErr  error
	closed    bool
}

// Start starts a headless Chromium for the test t, with a fresh profile in a
// directory of t.TempDir(), JavaScript disabled for every page, and every
// network and background service off. It is closed, and its processes are
// gone, when the test ends. A missing Chromium fails or skips the test as
// [Require] does.
func Start(t testing.TB, opts Options) *Browser {
	t.Helper()
	exe := Require(t)
	b, err := start(exe, t.TempDir(), opts)
	if err != nil {
		t.Fatalf("browser: starting chromium: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return b
}

// start starts the browser with its profile and home directory in dir, an
// empty directory that no other browser uses.
func start(exe, dir string, opts Options) (*Browser, error) {
	if opts.SocksProxy != "" {
		if _, _, err := net.SplitHostPort(opts.SocksProxy); err != nil {
			return nil, fmt.Errorf("invalid SOCKS proxy address %q: %w", opts.SocksProxy, err)
		}
	}
	profile, home := filepath.Join(dir, "profile"), filepath.Join(dir, "home")
	if err := writeProfile(profile); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("creating home directory: %w", err)
	}
	b := &Browser{timeout: opts.Timeout, dir: dir}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	o := allocatorOptions(exe, profile, opts)
	// Chromium writes into the home directory too (crash reports, NSS
	// database, caches): keep all of it in dir.
	o = append(o, chromedp.Env("HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache")))
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), o...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.allocCancel, b.ctx, b.cancel = allocCancel, ctx, cancel

	// The first Run starts the process and must not have a deadline (the
	// deadline would end the browser with it), so the start is bounded by a
	// timer instead.
	timer := time.AfterFunc(startTimeout, cancel)
	err := chromedp.Do(ctx, chromedp.Func(disableScripts))
	timer.Stop()
	if err != nil {
		b.Close()
		return nil, err
	}
	if c := chromedp.FromContext(ctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		b.pid = c.Browser.Process().Pid
	}
	return b, nil
}

// disableScripts turns script execution off in the tab through the
// Emulation domain. It is the third of three locks; see the package
// documentation.
func disableScripts(ctx context.Context, t *chromedp.Target) error {
	_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled,
		emulation.SetScriptExecutionDisabledParams{Value: true})
	if err != nil {
		return fmt.Errorf("disabling script execution: %w", err)
	}
	return nil
}

// preferences is the profile's Preferences file: the content setting that
// the JavaScript switch of chrome://settings/content/javascript writes, set
// to "blocked" (2), like Tor Browser's "Safest" level.
const preferences = `{"profile":{"default_content_setting_values":{"javascript":2}},` +
	`"browser":{"has_seen_welcome_page":true},"download":{"prompt_for_download":false}}`

func writeProfile(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o700); err != nil {
		return fmt.Errorf("creating profile directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(preferences), 0o600); err != nil {
		return fmt.Errorf("writing profile preferences: %w", err)
	}
	return nil
}

// allocatorOptions lists the command line of Chromium. chromedp's own
// defaults are not used, so that every flag is here and argued.
func allocatorOptions(exe, dir string, opts Options) []chromedp.ExecAllocatorOption {
	w, h := opts.WindowWidth, opts.WindowHeight
	if w <= 0 {
		w = 1280
	}
	if h <= 0 {
		h = 1024
	}
	o := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(dir),
		chromedp.Headless, // also hide-scrollbars, mute-audio
		chromedp.WindowSize(w, h),
		// We run as root in containers, where the sandbox cannot start.
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers

		// JavaScript off for every frame of every page, from the first byte.
		chromedp.Flag("blink-settings", "scriptEnabled=false"),

		// Nothing but the pages we ask for may touch the network.
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// HttpsUpgrades would try https://NAME:443 first for http:// URLs.
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,"+
			"Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,InterestFeedContentSuggestions"),
		// Every host name fails to resolve, and every IP address but
		// 127.0.0.1 is unreachable: the rules map the text of the host,
		// so IP literals are covered too. Names given to a SOCKS5 proxy
		// are not resolved here, so they still reach the proxy.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),

		// A test runs one page at a time; no throttling of the only tab.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-hang-monitor", true),
		chromedp.Flag("disable-prompt-on-repost", true),
		chromedp.Flag("force-color-profile", "srgb"),
	}
	if opts.SocksProxy != "" {
		o = append(o, chromedp.Flag("proxy-pac-url", pacURL(opts.SocksProxy)))
	}
	return o
}

// pacURL returns a proxy auto-config script, as a data: URL, that sends the
// .onion names, and only them, to the SOCKS5 proxy at addr. Chromium's SOCKS5
// client gives the proxy the name, not an address (remote DNS).
//
// Every other name goes DIRECT, where the host resolver rules make it fail
// before any connection. A plain --proxy-server=socks5://… would hand the
// proxy the names of Chromium's own background requests too: Chromium 156
// still asks for clients2.google.com, update.googleapis.com and
// accounts.google.com despite --disable-background-networking and
// --disable-component-update (seen by the SOCKS server of the tests).
func pacURL(addr string) string {
	script := `function FindProxyForURL(url, host) {
  if (dnsDomainIs(host, ".onion")) return "SOCKS5 ` + addr + `";
  return "DIRECT";
}`
	return "data:application/x-ns-proxy-autoconfig;base64," + base64.StdEncoding.EncodeToString([]byte(script))
}

// Close closes the browser and waits until its process has exited. Processes
// that Chromium started and left running are killed. It is safe to call more
// than once; [Start] calls it when the test ends.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.closed = true
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Cancel(ctx) // graceful Browser.close, then kill
		cancel()
		b.cancel()
		b.allocCancel() // waits for the process
		if err != nil && !errors.Is(err, context.Canceled) {
			b.closeErr = fmt.Errorf("browser: closing chromium: %w", err)
		}
		// Chromium's helper processes can outlive the main one for a
		// moment. They hold the profile, so they must go before t.TempDir
		// is removed; that is not an error of the test.
		killDirProcesses(b.dir)
	})
	return b.closeErr
}

// PID returns the process ID of the main Chromium process, or 0 if unknown.
func (b *Browser) PID() int { return b.pid }

// killDirProcesses kills, by process ID, every process whose command line
// names a path in dir, and returns how many it found. Only a browser that this
// package started uses dir, a fresh directory of the test: its helper
// processes name their profile (--user-data-dir) or their crash database in
// it. It looks again until a few passes in a row find nothing, because a
// helper can fork while the main process exits.
func killDirProcesses(dir string) int {
	total, quiet := 0, 0
	for deadline := time.Now().Add(3 * time.Second); quiet < 3 && time.Now().Before(deadline); {
		pids := dirProcesses(dir)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(pids) == 0 {
			quiet++
		} else {
			quiet = 0
			total += len(pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return total
}

// dirProcesses returns the IDs of the live processes whose command line names
// a path in dir. It reads /proc and finds nothing elsewhere.
func dirProcesses(dir string) []int {
	want := []byte(filepath.Clean(dir) + "/")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(stat) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// isZombie reports whether /proc/PID/stat describes a process that has exited
// and waits for its parent to reap it.
func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
