package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/datadir"
	"sandyq/server/store"
)

const adminUsage = `usage: sandyq admin -d DIR COMMAND [ARGS]

Administers a data directory. While "sandyq serve" runs, commands go to it
through DIR/control.sock (mode 0600) and take effect at once; when no
server runs, they open the store directly, running the same code. Only
"newsroom pin" needs the server stopped.

Commands:
    journalist add NAME PUBFILE    register a journalist: PUBFILE holds the two
                                   lines "sandyq-client access-key" printed
                                   (access: ... and onion-auth: ...; "-" is stdin)
    journalist list                list registered journalists and their keys
    journalist revoke NAME         remove a journalist: the API refuses the key
                                   and the journalist onion is republished
                                   without its onion key before this returns
    newsroom pin [--replace] PUB   pin the newsroom's public signing key
    newsroom show                  print the pinned newsroom key
    recipients install FILE...     install signed recipient sets ("-" is stdin);
                                   all are verified before any is installed
    recipients schedule FILE...    the same, for a series of future sets (epochs):
                                   the server switches at each start date
    recipients show                list installed sets and which is in force
    onion show                     the onion addresses, old ones with their end
    onion rotate [--grace D] [ROLE] a new address for ROLE (source, the default,
                                   or journalist) at once; the old one is served
                                   for D more (default 168h)
    retention set DAYS             delete fetched items DAYS after they arrived
                                   (0: keep until deleted); applied hourly
    compact                        rewrite the store without the bytes of deleted
                                   items (needs the server stopped)
    backup -o FILE                 a hot backup (while serving, or not), encrypted
                                   to the newsroom's set in force; FILE is 0600
    restore -i IDENTITY FILE DIR   restore a backup as a new data directory DIR
                                   (no -d; see "sandyq admin restore -h")
    status                         counts and sizes (nothing about any source)
    check                          verify the store's structure and invariants

Examples:
    sandyq admin -d /var/lib/sandyq journalist add alice alice-access.pub
    sandyq admin -d /var/lib/sandyq journalist revoke alice
    sandyq admin -d /var/lib/sandyq newsroom pin sandyq-newsroom1qqs...
    sandyq admin -d /var/lib/sandyq recipients install set-2026.txt
    sandyq admin -d /var/lib/sandyq recipients show
    sandyq admin -d /var/lib/sandyq onion rotate --grace 72h source
    sandyq admin -d /var/lib/sandyq retention set 30
    sandyq admin -d /var/lib/sandyq backup -o /media/backup/sandyq-2026-11-26.backup
    sandyq admin -d /var/lib/sandyq check
`

func runAdmin(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("admin")
	dir := fs.String("d", "", "data directory")
	if err := parseFlags(e, fs, adminUsage, args); err != nil {
		return err
	}
	rest := fs.Args()
	if *dir == "" && (len(rest) == 0 || rest[0] != "restore") {
		return usageErr(e, "admin", "missing -d DIR")
	}
	if len(rest) == 0 {
		return usageErr(e, "admin", "missing command")
	}
	if rest[0] == "restore" { // makes the data directory: -d is not used
		return adminRestore(e, rest[1:])
	}
	d, err := datadir.Open(*dir)
	if err != nil {
		return err
	}
	switch {
	case len(rest) >= 1 && rest[0] == "journalist":
		return adminJournalist(ctx, e, d, rest[1:])
	case len(rest) >= 2 && rest[0] == "newsroom" && rest[1] == "pin":
		return adminNewsroomPin(e, d, rest[2:])
	case len(rest) == 2 && rest[0] == "newsroom" && rest[1] == "show":
		k, err := d.NewsroomKey()
		if err != nil {
			return err
		}
		if k == "" {
			return errors.New("no newsroom key is pinned")
		}
		fmt.Fprintln(e.stdout, k)
		return nil
	case len(rest) >= 2 && rest[0] == "recipients" && (rest[1] == "install" || rest[1] == "schedule"):
		return adminRecipientsInstall(ctx, e, d, rest[2:])
	case len(rest) == 2 && rest[0] == "recipients" && rest[1] == "show":
		return adminRecipientsShow(ctx, e, d)
	case len(rest) == 1 && rest[0] == "status":
		return adminStatus(ctx, e, d)
	case len(rest) == 1 && rest[0] == "check":
		return adminCheck(ctx, e, d)
	case len(rest) >= 1 && rest[0] == "onion":
		return adminOnion(ctx, e, d, rest[1:])
	case len(rest) >= 1 && rest[0] == "retention":
		return adminRetention(ctx, e, d, rest[1:])
	case len(rest) == 1 && rest[0] == "compact":
		return adminCompact(ctx, e, d)
	case len(rest) >= 1 && rest[0] == "backup":
		return adminBackup(ctx, e, d, rest[1:])
	}
	return usageErr(e, "admin", "unknown admin command %q", joinArgs(rest))
}

func joinArgs(a []string) string {
	s := ""
	for i, x := range a {
		if i == 2 {
			break
		}
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}

func adminNewsroomPin(e *env, d *datadir.Dir, args []string) error {
	fs := newFlagSet("admin newsroom pin")
	replace := fs.Bool("replace", false, "replace a pinned key")
	if err := parseFlags(e, fs, adminUsage, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(e, "admin", "newsroom pin takes exactly one public key")
	}
	k, err := sign.ParsePublicKey(fs.Arg(0), sign.Newsroom)
	if err != nil {
		return fmt.Errorf("invalid newsroom key: %w", err)
	}
	old, err := d.NewsroomKey()
	if err != nil {
		return err
	}
	if old == k.String() {
		infof(e, "newsroom key %s is already pinned", k.Fingerprint())
		return nil
	}
	if old != "" && !*replace {
		return errors.New("a different newsroom key is already pinned; give --replace to change it (installed recipient sets signed by the old key will then be refused)")
	}
	// Hold the store's lock while changing the key, so that a running
	// server does not keep using sets of the old key.
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := d.SetNewsroomKey(k.String()); err != nil {
		return err
	}
	infof(e, "pinned newsroom key %s", k.Fingerprint())
	return nil
}

func adminRecipientsInstall(ctx context.Context, e *env, d *datadir.Dir, files []string) error {
	if len(files) == 0 {
		return usageErr(e, "admin", "recipients install needs at least one FILE")
	}
	// Read every file first; the server (or the direct path) verifies every
	// set before installing any: a bad file in a schedule changes nothing.
	var a recipientsInstallArgs
	for _, name := range files {
		b, err := readSmallFile(e, name, recipients.MaxSize)
		if err != nil {
			return fmt.Errorf("reading recipient set %q: %w", name, err)
		}
		if sign.LooksSecret(b) {
			return fmt.Errorf("%s holds a secret key, not a signed recipient set: nothing was installed", name)
		}
		a.Sets = append(a.Sets, b)
		a.Names = append(a.Names, name)
	}
	sets, err := adminOp(ctx, e, d, opRecipientsInstall, a, func(o *ops) ([]setInfo, error) {
		return o.recipientsInstall(ctx, a)
	})
	if err != nil {
		return err
	}
	for _, s := range sets {
		infof(e, "installed recipient set %s (%s, %d recipients, valid %s to %s; %s)", s.ID, s.Kind, len(s.Recipients),
			s.NotBefore.Format(time.RFC3339), s.NotAfter.Format(time.RFC3339), s.State)
	}
	return nil
}

func adminRecipientsShow(ctx context.Context, e *env, d *datadir.Dir) error {
	l, err := adminOp(ctx, e, d, opRecipientsShow, struct{}{}, func(o *ops) (*recipientsList, error) {
		return o.recipientsShow(ctx, struct{}{})
	})
	if err != nil {
		return err
	}
	if len(l.Sets) == 0 {
		infof(e, "no recipient set is installed")
		return nil
	}
	printSets(e, l.Sets)
	if l.InForce == "" {
		warnf(e, "no set is in force now: the submission form is closed")
	}
	return nil
}

func printSets(e *env, sets []setInfo) {
	for _, s := range sets {
		fmt.Fprintf(e.stdout, "%s  %-8s  %-6s  %s .. %s  %d recipients\n", s.ID, strings.ToUpper(s.State), s.Kind,
			s.NotBefore.Format(time.RFC3339), s.NotAfter.Format(time.RFC3339), len(s.Recipients))
		for _, r := range s.Recipients {
			fmt.Fprintf(e.stdout, "    %s\n", r)
		}
	}
}

func adminStatus(ctx context.Context, e *env, d *datadir.Dir) error {
	si, err := adminOp(ctx, e, d, opStatus, struct{}{}, func(o *ops) (*statusInfo, error) {
		return o.status(ctx, struct{}{})
	})
	if err != nil {
		return err
	}
	st := si.Stats
	state := "stopped"
	if si.Serving {
		state = "serving"
	}
	fmt.Fprintf(e.stdout, "server:          %s\n", state)
	fmt.Fprintf(e.stdout, "sources:         %d\n", st.Sources)
	fmt.Fprintf(e.stdout, "items:           %d (%s of ciphertext)\n", st.Items, mib(st.ItemBytes))
	fmt.Fprintf(e.stdout, "replies:         %d (%s)\n", st.Replies, mib(st.ReplyBytes))
	fmt.Fprintf(e.stdout, "pending uploads: %d\n", st.Pending)
	fmt.Fprintf(e.stdout, "journalists:     %d\n", si.Journalists)
	fmt.Fprintf(e.stdout, "store file:      %s (%s in free pages until compaction)\n", mib(st.FileSize), mib(st.FreeBytes))
	fmt.Fprintf(e.stdout, "disk free:       %s\n", mib(si.DiskFree))
	if si.Retention == 0 {
		fmt.Fprintf(e.stdout, "retention:       keep until deleted\n")
	} else {
		fmt.Fprintf(e.stdout, "retention:       delete fetched items after %d days\n", si.Retention)
	}
	fmt.Fprintf(e.stdout, "instance key:    %s\n", si.InstanceKey)
	printOnions(e, si.Onions)
	if si.InForce == "" {
		fmt.Fprintf(e.stdout, "recipient set:   none in force: the submission form is closed\n")
	} else {
		fmt.Fprintf(e.stdout, "recipient set:   %s in force\n", si.InForce)
	}
	for _, s := range si.Sets {
		fmt.Fprintf(e.stdout, "    %s  %-8s %s .. %s  %d items\n", s.ID, s.State, s.NotBefore.Format(time.RFC3339), s.NotAfter.Format(time.RFC3339), s.Items)
	}
	return nil
}

func printOnions(e *env, list []onionInfo) {
	for _, o := range list {
		if o.Current {
			fmt.Fprintf(e.stdout, "%-18shttp://%s/\n", o.Role+" onion:", o.Address)
		} else {
			fmt.Fprintf(e.stdout, "%-18shttp://%s/ (old, served until %s)\n", o.Role+" onion:", o.Address, o.Until.Format(time.RFC3339))
		}
	}
}

func adminCheck(ctx context.Context, e *env, d *datadir.Dir) error {
	msg, err := adminOp(ctx, e, d, opCheck, struct{}{}, func(o *ops) (string, error) {
		return o.check(ctx, struct{}{})
	})
	if err != nil {
		return err
	}
	infof(e, "check: %s", msg)
	return nil
}

func adminOnion(ctx context.Context, e *env, d *datadir.Dir, args []string) error {
	if len(args) == 1 && args[0] == "show" {
		list, err := adminOp(ctx, e, d, opOnionShow, struct{}{}, func(o *ops) ([]onionInfo, error) {
			return o.onionList(), nil
		})
		if err != nil {
			return err
		}
		printOnions(e, list)
		return nil
	}
	if len(args) >= 1 && args[0] == "rotate" {
		fs := newFlagSet("admin onion rotate")
		grace := fs.Duration("grace", 7*24*time.Hour, "how long the old address is still served")
		if err := parseFlags(e, fs, adminUsage, args[1:]); err != nil {
			return err
		}
		role := sourceService
		if fs.NArg() == 1 {
			role = fs.Arg(0)
		} else if fs.NArg() > 1 {
			return usageErr(e, "admin", "onion rotate takes at most one ROLE (source or journalist)")
		}
		a := onionRotateArgs{Role: role, Grace: *grace}
		info, err := adminOp(ctx, e, d, opOnionRotate, a, func(o *ops) (*onionInfo, error) {
			return o.onionRotate(ctx, a)
		})
		if err != nil {
			return err
		}
		infof(e, "new %s address (the old one is served for %v more):", info.Role, *grace)
		fmt.Fprintf(e.stdout, "http://%s/\n", info.Address)
		return nil
	}
	return usageErr(e, "admin", "usage: onion show | onion rotate [--grace DURATION] [source|journalist]")
}

func adminRetention(ctx context.Context, e *env, d *datadir.Dir, args []string) error {
	if len(args) != 2 || args[0] != "set" {
		return usageErr(e, "admin", "usage: retention set DAYS (0: keep until deleted)")
	}
	days, err := parseDays(args[1])
	if err != nil {
		return usageErr(e, "admin", "retention set: %v", err)
	}
	a := retentionArgs{Days: days}
	res, err := adminOp(ctx, e, d, opRetentionSet, a, func(o *ops) (*retentionResult, error) {
		return o.retentionSet(ctx, a)
	})
	if err != nil {
		return err
	}
	if res.Days == 0 {
		infof(e, "retention off: items are kept until deleted")
	} else {
		infof(e, "fetched items are deleted %d days after they arrived; %d deleted now", res.Days, res.Deleted)
		hintf(e, "deleted items stay in free pages of the store file until \"sandyq admin compact\"")
	}
	return nil
}

// parseDays accepts "30", "30d" or a Go duration in whole days ("720h").
func parseDays(s string) (int, error) {
	if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n >= 0 {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d%(24*time.Hour) != 0 {
		return 0, fmt.Errorf("%q is not a number of days (30, 30d or 720h)", s)
	}
	return int(d / (24 * time.Hour)), nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func adminJournalist(ctx context.Context, e *env, d *datadir.Dir, args []string) error {
	switch {
	case len(args) == 3 && args[0] == "add":
		pub, err := readSmallFile(e, args[2], 4096)
		if err != nil {
			return fmt.Errorf("reading the journalist's public keys: %w", err)
		}
		a := journalistAddArgs{Name: args[1], Public: pub}
		j, err := adminOp(ctx, e, d, opJournalistAdd, a, func(o *ops) (*journalistInfo, error) {
			return o.journalistAdd(ctx, a)
		})
		if err != nil {
			return err
		}
		infof(e, "registered journalist %s (access key %s)", j.Name, j.Access)
		return nil
	case len(args) == 1 && args[0] == "list":
		list, err := adminOp(ctx, e, d, opJournalistList, struct{}{}, func(o *ops) ([]journalistInfo, error) {
			return o.journalistList(), nil
		})
		if err != nil {
			return err
		}
		printJournalists(e, list)
		return nil
	case len(args) == 2 && args[0] == "revoke":
		a := journalistNameArgs{Name: args[1]}
		j, err := adminOp(ctx, e, d, opJournalistRevoke, a, func(o *ops) (*journalistInfo, error) {
			return o.journalistRevoke(ctx, a)
		})
		if err != nil {
			return err
		}
		infof(e, "revoked journalist %s", j.Name)
		return nil
	}
	return usageErr(e, "admin", "usage: journalist add NAME PUBFILE | journalist list | journalist revoke NAME")
}

// readSmallFile reads a file ("-": stdin) of at most limit bytes.
func readSmallFile(e *env, name string, limit int64) (string, error) {
	var r io.Reader
	if name == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > limit {
		return "", fmt.Errorf("over %d bytes", limit)
	}
	return string(b), nil
}
