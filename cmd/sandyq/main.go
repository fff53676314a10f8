// Command sandyq runs a sandyq drop: the server, its admin commands, and the
// online tools journalists and sources use (fetch, push, submit).
//
// Run "sandyq -h" or "sandyq COMMAND -h" for usage and examples.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

const usage = `sandyq runs an end-to-end encrypted secure-reporting drop over Tor.

Usage:
    sandyq quickstart -d DIR
    sandyq init -d DIR [--newsroom-key PUB]
    sandyq serve -d DIR [--tor PATH] [--torrc FILE] [--dev-listen ADDR]
    sandyq admin -d DIR COMMAND [ARGS]
    sandyq fetch --server ADDR --access-key FILE -o BUNDLE
    sandyq push --server ADDR --access-key FILE BUNDLE
    sandyq submit --server ADDR --newsroom-key PUB [-m TEXT] [--codename-file FILE] FILE...
    sandyq version

Commands:
    quickstart try sandyq on this machine: demo keys, a drop, serving
    init       create a data directory: store, instance pepper, onion keys
    serve      serve the source and journalist onion services until interrupted
    admin      journalists, keys, recipient sets, status, check
    fetch      (journalist) fetch new submissions as an encrypted bundle
    push       (journalist) upload a reply bundle
    submit     (source) encrypt and send a message and files from this computer
    version    print the version

Run "sandyq COMMAND -h" for the flags and examples of each command.

Exit codes:
    0  success
    1  error (the message says what failed)
    2  usage error (unknown command or flag, missing argument)

Examples:
    sandyq quickstart -d /tmp/sandyq-demo
    sandyq init -d /var/lib/sandyq --newsroom-key sandyq-newsroom1...
    sandyq serve -d /var/lib/sandyq
`

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// errUsage marks an error caused by how the command was called; it exits 2.
var errUsage = errors.New("usage error")

// env is what a command may touch of the outside world. Tests replace it.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	rand   io.Reader
	getenv func(string) string
}

func main() { os.Exit(runMain()) }

// runMain runs the command line of this process against the real outside
// world and returns the exit code. Tests run it as the "sandyq" command.
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		rand:   rand.Reader,
		getenv: os.Getenv,
	})
}

type command struct {
	name string
	run  func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"quickstart", runQuickstart},
		{"init", runInit},
		{"admin", runAdmin},
		{"serve", runServe},
		{"fetch", runFetch},
		{"push", runPush},
		{"submit", runSubmit},
		{"version", runVersion},
	}
}

// run dispatches to a command and turns its error into an exit code.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			if err != errUsage { // a usage error that says what was wrong
				errorf(e, "%s", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
				hintf(e, "run %q for usage and examples", "sandyq "+c.name+" -h")
			}
			return exitUsage
		default:
			errorf(e, "%v", err)
			return exitError
		}
	}
	errorf(e, "unknown command %q", args[0])
	hintf(e, `run "sandyq -h" for the list of commands`)
	return exitUsage
}

// newFlagSet returns a flag set that prints nothing itself: parseFlags
// prints the command's own help text on -h and a short error otherwise.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sandyq "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args and handles -h and usage errors the same way for
// every command.
func parseFlags(e *env, fs *flag.FlagSet, help string, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, help)
		return flag.ErrHelp
	}
	if err != nil {
		errorf(e, "%v", err)
		hintf(e, "run %q for usage and examples", fs.Name()+" -h")
		return errUsage
	}
	return nil
}

// usageErr prints a usage error with a hint and returns errUsage.
func usageErr(e *env, name, format string, args ...any) error {
	errorf(e, format, args...)
	hintf(e, "run %q for usage and examples", "sandyq "+name+" -h")
	return errUsage
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("version")
	if err := parseFlags(e, fs, "usage: sandyq version\n", args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, version())
	return nil
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "sandyq (devel)"
	}
	return "sandyq " + info.Main.Version
}
