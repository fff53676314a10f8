// Command sandyq-bench measures sandyq side by side with what a newsroom
// would deploy instead — OnionShare's receive mode, a SecureDrop-style
// gzip + OpenPGP path, age to a file, a static server behind an onion
// service, mat2 — in one run on one machine, and writes the results into
// docs/performance.md.
//
// Run "go run ./cmd/sandyq-bench -h" for usage and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"sandyq/internal/tortest"
)

const usage = `usage: go run ./cmd/sandyq-bench [-quick] [-runs N] [-only LIST] [-doc FILE]
                                [-no-install] [-keep] [-tmp DIR]

Benchmarks sandyq against the systems a newsroom would otherwise deploy, in
one run on this machine, and prints a table of medians with min–max over
several runs and ratios taken pair by pair within each run:

  ingest   one 1 GiB upload and 32 concurrent 64 MiB uploads through the
           source web form of "sandyq serve --dev-listen" (loopback), versus
           OnionShare's receive mode (onionshare-cli --receive --local-only),
           a SecureDrop-style path (gzip -9, then gpg to an RSA-4096 key,
           on the received bytes) and age encrypting to a file (the floor);
           throughput and peak RSS of each
  small    durable 4 KiB messages per second through the web form with 64
           clients, versus OnionShare's text messages
  tor      a 100 MiB upload over a private Tor network on 127.0.0.1 to
           sandyq's onion, to OnionShare's, and to a plain HTTP server
           behind an onion (the Tor ceiling)
  offline  sandyq-client open of a 1 GiB bundle versus age -d of the same
           item; export --scrub of a corpus of photos and documents versus
           mat2, with exiftool counting the identifying tags left
  login    codename logins per second at the default Argon2id cost, and
           peak memory with 100 concurrent attempts

It builds sandyq and sandyq-client from this checkout and finds its
baselines, installing what is missing (as root, with apt-get: onionshare-cli,
mat2, libimage-exiftool-perl, libarchive-zip-perl, gnupg, tor; with go
install: age v1.3.2).
Everything happens in a temporary directory, removed at the end; every
child process is killed (SIGKILL to its process group) on exit, Ctrl-C
included.

The full run takes about 13 minutes on 2 cores (plus installs on a fresh
machine) and writes its results into the generated section of
docs/performance.md (between the sandyq-bench markers; the rest of the file
is kept). -quick uses small sizes and one run (about a minute, plus
installs) and writes no document unless -doc is given.

Flags:
    -quick        small sizes, one run: for trying the benchmark
    -runs N       runs of each measurement (default 3, and 5 over Tor, whose
                  circuits vary more; 1 with -quick)
    -only LIST    comma-separated sections to run: ingest,small,tor,offline,login
                  (default: all)
    -doc FILE     the document to write the results into (default: the
                  checkout's docs/performance.md in the full mode, none
                  with -quick); "-" writes none
    -no-install   do not install missing baselines: the measurements that
                  need them are reported as not measured
    -keep         keep the work directory (for debugging; it holds
                  gigabytes)
    -tmp DIR      where to make the work directory (default: $TMPDIR or /tmp)

Exit codes:
    0  the benchmark ran (measurements that could not be made are listed)
    1  an error, or interrupted
    2  usage error

Examples:
    go run ./cmd/sandyq-bench -quick
    go run ./cmd/sandyq-bench
    go run ./cmd/sandyq-bench -only ingest,offline -runs 5 -doc -
`

// sections in the order they run.
var allSections = []string{"ingest", "small", "tor", "offline", "login"}

// sizes are what the benchmark moves; quick mode shrinks them.
type sizes struct {
	runs         int           // runs of each measurement
	torRuns      int           // runs over Tor, whose circuits vary more
	single       int64         // ingest: one upload
	concN        int           // ingest: concurrent uploads
	conc         int64         // ingest: size of each concurrent upload
	smallClients int           // small submissions: concurrent clients
	smallMsg     int           // small submissions: message size
	smallFor     time.Duration // small submissions: how long each run sends
	tor          int64         // over Tor: one upload
	open         int64         // offline: the bundle's item
	logins       int           // login: logins timed for the rate
	loginConc    int           // login: concurrent attempts for peak memory
}

func fullSizes() sizes {
	return sizes{runs: 3, torRuns: 5, single: 1 << 30, concN: 32, conc: 64 << 20, smallClients: 64, smallMsg: 4 << 10,
		smallFor: 10 * time.Second, tor: 100 << 20, open: 1 << 30, logins: 40, loginConc: 100}
}

func quickSizes() sizes {
	return sizes{runs: 1, torRuns: 1, single: 64 << 20, concN: 32, conc: 2 << 20, smallClients: 64, smallMsg: 4 << 10,
		smallFor: 3 * time.Second, tor: 8 << 20, open: 64 << 20, logins: 20, loginConc: 100}
}

// bench is one benchmark session.
type bench struct {
	sz      sizes
	quick   bool
	stderr  io.Writer
	started time.Time

	root   string // the checkout (module root)
	goTool string
	tmp    string // parent of the work directory ("": the default)
	work   string // temporary work directory
	keep   bool

	procs *procs
	tools tools
	keys  keys
	gnupg string // GNUPGHOME of the SecureDrop-style path

	netMu sync.Mutex
	nets  []*tortest.Network // private Tor networks to stop on exit

	res *results
}

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("sandyq-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	quick := fs.Bool("quick", false, "")
	runs := fs.Int("runs", 0, "")
	only := fs.String("only", "", "")
	doc := fs.String("doc", "", "")
	noInstall := fs.Bool("no-install", false, "")
	keep := fs.Bool("keep", false, "")
	tmp := fs.String("tmp", "", "")
	err := fs.Parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(usage)
		return 0
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	sections := allSections
	if err == nil && *only != "" {
		sections = nil
		for _, s := range strings.Split(*only, ",") {
			if !slices.Contains(allSections, s) {
				err = fmt.Errorf("-only: unknown section %q (known: %s)", s, strings.Join(allSections, ","))
				break
			}
			sections = append(sections, s)
		}
	}
	if err == nil && *runs < 0 {
		err = errors.New("-runs must be positive")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandyq-bench: error: %v\nsandyq-bench: hint: run \"go run ./cmd/sandyq-bench -h\" for usage and examples\n", err)
		return 2
	}

	b := &bench{sz: fullSizes(), quick: *quick, stderr: os.Stderr, keep: *keep, tmp: *tmp, procs: newProcs(), started: time.Now()}
	if *quick {
		b.sz = quickSizes()
	}
	if *runs > 0 {
		b.sz.runs, b.sz.torRuns = *runs, *runs
	}
	b.res = newResults(b.sz.runs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cleanOnce sync.Once
	cleanup := func() { cleanOnce.Do(b.cleanup) }
	defer cleanup()
	sigs := make(chan os.Signal, 2)
	// SIGPIPE too: with stderr piped into a command that exits early, the
	// next progress line would otherwise kill the benchmark without
	// cleaning up.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		<-sigs
		b.logf("interrupted: stopping every child process")
		cancel()
		b.procs.killAll()
		// Give the main goroutine a moment to clean up in order; a second
		// signal or a stuck step ends everything at once.
		select {
		case <-sigs:
		case <-time.After(10 * time.Second):
		}
		cleanup()
		os.Exit(1)
	}()

	if err := b.main(ctx, sections, *doc, !*noInstall); err != nil {
		if ctx.Err() != nil {
			b.logf("interrupted")
		} else {
			fmt.Fprintf(os.Stderr, "sandyq-bench: error: %v\n", err)
		}
		return 1
	}
	return 0
}

// main prepares everything, runs the sections, and reports.
func (b *bench) main(ctx context.Context, sections []string, doc string, install bool) error {
	var err error
	if b.goTool, err = exec.LookPath("go"); err != nil {
		return errors.New("the go command is not on PATH")
	}
	if b.root, err = moduleRoot(ctx, b.procs, b.goTool); err != nil {
		return err
	}
	switch {
	case doc == "-":
		doc = ""
	case doc == "" && !b.quick:
		doc = filepath.Join(b.root, "docs", "performance.md")
	}
	if b.work, err = os.MkdirTemp(b.tmp, "sandyq-bench-"); err != nil {
		return err
	}
	b.logf("work directory %s", b.work)
	b.res.machine = describeMachine(b.work)

	if err := b.findTools(ctx, install); err != nil {
		return err
	}
	if err := b.build(ctx); err != nil {
		return err
	}
	if err := b.makeKeys(ctx); err != nil {
		return fmt.Errorf("making the newsroom's keys: %w", err)
	}
	b.res.versions = b.versions(ctx)

	for _, s := range sections {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		begin := time.Now()
		b.logf("== %s", s)
		var err error
		switch s {
		case "ingest":
			err = b.ingest(ctx)
		case "small":
			err = b.small(ctx)
		case "tor":
			err = b.overTor(ctx)
		case "offline":
			err = b.offline(ctx)
		case "login":
			err = b.login(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.res.notMeasured(s, err.Error())
			b.logf("%s: %v", s, err)
		}
		b.res.took[s] = time.Since(begin)
	}
	b.res.loadEnd = loadAvg()
	b.res.elapsed = time.Since(b.started)
	b.res.mode = "full"
	if b.quick {
		b.res.mode = "quick"
	}
	b.res.sz = b.sz
	report := b.res.render(sections)
	fmt.Println(report.terminal)
	if doc != "" {
		if err := writeDoc(doc, report.doc); err != nil {
			return fmt.Errorf("writing %s: %w", doc, err)
		}
		b.logf("wrote %s", doc)
	}
	b.logf("took %v", time.Since(b.started).Round(time.Second))
	return nil
}

// cleanup kills every child, stops the Tor networks and removes the work
// directory. It runs once, from main's return or from the signal handler.
func (b *bench) cleanup() {
	b.procs.killAll()
	b.netMu.Lock()
	nets := b.nets
	b.nets = nil
	b.netMu.Unlock()
	for _, n := range nets {
		for _, pid := range n.Pids() {
			// Only a tor that is still this process's child: a pid already
			// reaped may belong to someone else by now.
			if parentOf(pid) == os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		n.Close()
	}
	b.stopGPGAgent()
	if b.work != "" && !b.keep {
		os.RemoveAll(b.work)
	}
}

// logf prints a progress line on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "sandyq-bench: %5.0fs  "+format+"\n", append([]any{time.Since(b.started).Seconds()}, args...)...)
}

// parentOf returns the parent process ID of pid, or -1.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	var state string
	var ppid int
	if i < 0 || func() bool { _, err := fmt.Sscan(string(b[i+1:]), &state, &ppid); return err != nil }() {
		return -1
	}
	return ppid
}

// nan marks a run that could not be measured.
var nan = math.NaN()
