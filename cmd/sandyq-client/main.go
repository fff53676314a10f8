// Command sandyq-client is sandyq's offline client, for a journalist's
// air-gapped laptop: it makes keys (age identities, the newsroom signing key,
// journalists' access keys), signs recipient sets, opens bundles into a vault
// (pinning the server's instance key on first use), lists and shows what a
// vault holds, exports items with their metadata scrubbed, writes signed
// reply bundles, keeps one identity per epoch and destroys ended ones, and
// rewraps items to a new recipient set.
//
// It links no networking code at all: deps_test.go checks that no "net"
// package is in its dependency graph.
//
// Run "sandyq-client -h" or "sandyq-client COMMAND -h" for usage and examples.
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
	"syscall"
	"time"

	"golang.org/x/term"
)

const usage = `sandyq-client is sandyq's offline client, for an air-gapped laptop.
It never opens a network connection.

Usage:
    sandyq-client keygen -o IDENTITY [--passphrase]
    sandyq-client newsroom init -o KEYFILE
    sandyq-client recipients sign -k KEYFILE -o SET [-R FILE] [RECIPIENT...]
    sandyq-client access-key -o KEYFILE
    sandyq-client open (-i IDENTITY... | --keys KEYDIR) -o VAULT [--instance-key KEY|FILE] BUNDLE
    sandyq-client list VAULT
    sandyq-client show VAULT ITEM
    sandyq-client export [--scrub] VAULT ITEM -o DIR
    sandyq-client reply -i IDENTITY --vault VAULT --source SOURCE
                        --access-key KEYFILE -o BUNDLE FILE...
    sandyq-client epoch new|schedule|list|destroy --keys KEYDIR ...
    sandyq-client rewrap (-i IDENTITY... | --keys KEYDIR) --vault VAULT
                         --recipients SET --newsroom-key PUB
                         --access-key KEYFILE -o BUNDLE ITEM...
    sandyq-client version

Commands:
    keygen        make a post-quantum age identity for decrypting submissions
    newsroom      make the newsroom signing key, which signs recipient sets
    recipients    sign a recipient set with the newsroom key
    access-key    make a journalist's access key and onion client-auth key
    open          check a bundle and decrypt its items into a vault; pins the
                  server's instance key in the vault on first use
    list          list the sources and items in a vault
    show          show an item of a vault (messages escaped for the terminal)
    export        copy an item out of the vault, optionally scrubbing metadata
    reply         write encrypted replies to a source into a reply bundle
    epoch         keep one identity per epoch (forward secrecy): make,
                  schedule, list and destroy epochs
    rewrap        re-encrypt items of the vault to a new recipient set, into
                  a rewrap bundle for the server
    version       print the version

Run "sandyq-client COMMAND -h" for the flags and examples of each command.
ITEM and SOURCE are IDs as "list" shows them, or their first 8 or more hex
digits.

Output: data (public keys, recipients, listings) goes to stdout; messages go
to stderr, prefixed "sandyq-client:". Key files are created with mode 0600
and never overwritten; an output file is written only when the command
succeeds.

Exit codes:
    0  success
    1  error (the message says what failed)
    2  usage error (unknown command or flag, missing argument)

Examples:
    sandyq-client keygen --passphrase -o journalist.age
    sandyq-client newsroom init -o newsroom.key
    sandyq-client recipients sign -k newsroom.key -o set.txt age1pq1...
    sandyq-client access-key -o access.key
    sandyq-client open -i journalist.age -o vault --instance-key sandyq-instance1... bundle.sqb
    sandyq-client list vault
    sandyq-client export --scrub vault 10a1b2c3 -o exports
    sandyq-client reply -i journalist.age --vault vault --source a1b2c3d4 \
        --access-key access.key -o replies.sqb reply.txt
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
	now    func() time.Time

	// passphrase asks the user for a passphrase with the given prompt,
	// without echo. Nil means readPassphrase (SANDYQ_PASSPHRASE or /dev/tty).
	passphrase func(e *env, prompt string) (string, error)

	// stdinTerminal says whether stdin is a terminal: only then does a
	// command ask the user a question on it (open's key confirmation).
	stdinTerminal bool

	// scryptLogN is the scrypt work factor (log2 N) used to protect
	// identities with a passphrase. Zero means age's default; tests set a
	// low value (never set it in production).
	scryptLogN int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{
		stdin:         os.Stdin,
		stdinTerminal: term.IsTerminal(int(os.Stdin.Fd())),
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		rand:          rand.Reader,
		getenv:        os.Getenv,
		now:           time.Now,
	})
	stop()
	os.Exit(code)
}

type command struct {
	name string
	run  func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"keygen", runKeygen},
		{"newsroom", runNewsroom},
		{"recipients", runRecipients},
		{"access-key", runAccessKey},
		{"open", runOpen},
		{"list", runList},
		{"show", runShow},
		{"export", runExport},
		{"reply", runReply},
		{"epoch", runEpoch},
		{"rewrap", runRewrap},
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
		return exitCode(e, c.run(ctx, e, args[1:]))
	}
	errorf(e, "unknown command %q", printable(args[0]))
	hintf(e, `run "sandyq-client -h" for the list of commands`)
	return exitUsage
}

func exitCode(e *env, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	default:
		errorf(e, "%v", err)
		var h *hintError
		if errors.As(err, &h) {
			hintf(e, "%s", h.hint)
		}
		return exitError
	}
}

// hintError is an error with a hint, printed after it.
type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() }
func (h *hintError) Unwrap() error { return h.err }

// subcommand dispatches "NAME SUB ..." for commands with subcommands.
func subcommand(ctx context.Context, e *env, name, help string, args []string, subs map[string]func(context.Context, *env, []string) error) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, help)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, help)
		return flag.ErrHelp
	}
	f, ok := subs[args[0]]
	if !ok {
		return usageErr(e, name, "unknown %s command %q", name, printable(args[0]))
	}
	return f(ctx, e, args[1:])
}

// newFlagSet returns a flag set that prints nothing itself: parseFlags
// prints the command's own help text on -h and a short error otherwise.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sandyq-client "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args and handles -h and usage errors the same way for
// every command. Flags may follow positional arguments.
func parseFlags(e *env, fs *flag.FlagSet, help string, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, help)
			return nil, flag.ErrHelp
		}
		if err != nil {
			// The flag package quotes the offending argument: it is a flag
			// name or a value given to a flag, never a positional argument,
			// but a secret key pasted as a flag value must not be echoed.
			if looksSecret(err.Error()) {
				errorf(e, "invalid flag value (not shown: it looks like a secret key)")
			} else {
				errorf(e, "%s", printable(err.Error()))
			}
			hintf(e, "run %q for usage and examples", fs.Name()+" -h")
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageErr prints a usage error with a hint and returns errUsage.
func usageErr(e *env, name, format string, args ...any) error {
	errorf(e, format, args...)
	hintf(e, "run %q for usage and examples", "sandyq-client "+name+" -h")
	return errUsage
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("version")
	pos, err := parseFlags(e, fs, "usage: sandyq-client version\n", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(e, "version", "version takes no arguments")
	}
	fmt.Fprintln(e.stdout, version())
	return nil
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "sandyq-client (devel)"
	}
	return "sandyq-client " + info.Main.Version
}
