package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/datadir"
	"sandyq/server/keyring"
	"sandyq/server/onion"
	"sandyq/server/store"
)

const adminUsage = `usage: sandyq admin -d DIR COMMAND [ARGS]

Administers a data directory. While "sandyq serve" runs, the journalist
commands go to it through DIR/control.sock and take effect at once; when
no server runs, they open the store directly. The other commands open the
store directly: stop "sandyq serve" first (a locked store is reported
within seconds).

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
    recipients install FILE...     install signed recipient sets ("-" is stdin)
    recipients show                list installed sets and which is in force
    status                         counts and sizes (nothing about any source)
    check                          verify the store's structure and invariants

Examples:
    sandyq admin -d /var/lib/sandyq journalist add alice alice-access.pub
    sandyq admin -d /var/lib/sandyq journalist revoke alice
    sandyq admin -d /var/lib/sandyq newsroom pin sandyq-newsroom1qqs...
    sandyq admin -d /var/lib/sandyq recipients install set-2026.txt
    sandyq admin -d /var/lib/sandyq recipients show
    sandyq admin -d /var/lib/sandyq check
`

func runAdmin(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("admin")
	dir := fs.String("d", "", "data directory")
	if err := parseFlags(e, fs, adminUsage, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr(e, "admin", "missing -d DIR")
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageErr(e, "admin", "missing command")
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
	case len(rest) >= 2 && rest[0] == "recipients" && rest[1] == "install":
		return adminRecipientsInstall(e, d, rest[2:])
	case len(rest) == 2 && rest[0] == "recipients" && rest[1] == "show":
		return adminRecipientsShow(e, d)
	case len(rest) == 1 && rest[0] == "status":
		return adminStatus(e, d)
	case len(rest) == 1 && rest[0] == "check":
		return adminCheck(e, d)
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

// openAdminKeyring opens the store and the verified keyring.
func openAdminKeyring(d *datadir.Dir) (*store.Store, *keyring.Keyring, error) {
	text, err := d.NewsroomKey()
	if err != nil {
		return nil, nil, err
	}
	if text == "" {
		return nil, nil, errors.New("no newsroom key is pinned: run \"sandyq admin newsroom pin PUB\" first")
	}
	newsroom, err := sign.ParsePublicKey(text, sign.Newsroom)
	if err != nil {
		return nil, nil, fmt.Errorf("pinned newsroom key: %w", err)
	}
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		return nil, nil, err
	}
	kr, err := keyring.New(st, newsroom, time.Now)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, kr, nil
}

func adminRecipientsInstall(e *env, d *datadir.Dir, files []string) error {
	if len(files) == 0 {
		return usageErr(e, "admin", "recipients install needs at least one FILE")
	}
	// Read and verify every file before installing any: a bad file in a
	// schedule changes nothing.
	raws := make([][]byte, len(files))
	for i, name := range files {
		var r io.Reader
		if name == "-" {
			r = e.stdin
		} else {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("reading recipient set: %w", err)
			}
			defer f.Close()
			r = f
		}
		b, err := io.ReadAll(io.LimitReader(r, recipients.MaxSize+1))
		if err != nil {
			return fmt.Errorf("reading recipient set %q: %w", name, err)
		}
		raws[i] = b
	}
	st, kr, err := openAdminKeyring(d)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, raw := range raws {
		if _, err := kr.Verify(raw); err != nil {
			return fmt.Errorf("recipient set %q: %w", files[i], err)
		}
	}
	for i, raw := range raws {
		s, err := kr.Install(raw)
		if err != nil {
			return fmt.Errorf("recipient set %q: %w", files[i], err)
		}
		infof(e, "installed recipient set %s (%s, %d recipients, valid %s to %s)", s.IDString(), s.Kind, len(s.Recipients),
			s.NotBefore.Format(time.RFC3339), s.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func adminRecipientsShow(e *env, d *datadir.Dir) error {
	st, kr, err := openAdminKeyring(d)
	if err != nil {
		return err
	}
	defer st.Close()
	cur, _ := kr.Current()
	all := kr.All()
	if len(all) == 0 {
		infof(e, "no recipient set is installed")
		return nil
	}
	now := time.Now()
	for _, s := range all {
		state := "future"
		switch {
		case cur != nil && s.ID == cur.ID:
			state = "IN FORCE"
		case !now.Before(s.NotAfter):
			state = "expired"
		case s.ValidAt(now):
			state = "valid"
		}
		fmt.Fprintf(e.stdout, "%s  %-8s  %-6s  %s .. %s  %d recipients\n", s.IDString(), state, s.Kind,
			s.NotBefore.Format(time.RFC3339), s.NotAfter.Format(time.RFC3339), len(s.Recipients))
		for _, r := range s.Signed.Recipients {
			fmt.Fprintf(e.stdout, "    %s\n", r)
		}
	}
	if cur == nil {
		warnf(e, "no set is in force now: the submission form is closed")
	}
	return nil
}

func adminStatus(e *env, d *datadir.Dir) error {
	st, err := store.Open(d.StorePath(), &store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := st.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "sources:         %d\n", stats.Sources)
	fmt.Fprintf(e.stdout, "items:           %d (%s of ciphertext)\n", stats.Items, mib(stats.ItemBytes))
	fmt.Fprintf(e.stdout, "replies:         %d (%s)\n", stats.Replies, mib(stats.ReplyBytes))
	fmt.Fprintf(e.stdout, "pending uploads: %d\n", stats.Pending)
	fmt.Fprintf(e.stdout, "recipient sets:  %d\n", stats.RecipientSets)
	fmt.Fprintf(e.stdout, "journalists:     %d\n", stats.Journalists)
	fmt.Fprintf(e.stdout, "store file:      %s (%s in free pages until compaction)\n", mib(stats.FileSize), mib(stats.FreeBytes))
	if free, err := diskFree(d.Path()); err == nil {
		fmt.Fprintf(e.stdout, "disk free:       %s\n", mib(int64(free)))
	}
	if inst, err := d.InstanceKey(); err == nil {
		fmt.Fprintf(e.stdout, "instance key:    %s\n", inst.Public())
	}
	for _, name := range []string{sourceService, journalistService} {
		if addr, err := onion.KeyAddress(d.Join(datadir.OnionDir), name); err == nil {
			fmt.Fprintf(e.stdout, "%-17s%s\n", name+" onion:", addr)
		}
	}
	return nil
}

func adminCheck(e *env, d *datadir.Dir) error {
	st, err := store.Open(d.StorePath(), &store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		return fmt.Errorf("check found problems:\n%w", err)
	}
	infof(e, "check: no problems found")
	return nil
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
