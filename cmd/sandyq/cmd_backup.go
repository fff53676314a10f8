package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"sandyq/server/backup"
	"sandyq/server/control"
	"sandyq/server/datadir"
	"sandyq/server/keyring"
)

// opBackup streams a hot backup from a running server.
const opBackup = "backup"

// backupTo writes a backup of the data directory o serves to w, encrypted
// to the recipient set in force: the newsroom's identities (offline) are
// the only ones that can read it.
func (o *ops) backupTo(w io.Writer) (*backup.Info, error) {
	kr, err := o.keyring()
	if err != nil {
		return nil, err
	}
	cur, err := kr.Current()
	if err != nil {
		return nil, errors.New("no recipient set is in force: a backup is encrypted to the newsroom's set, install one first")
	}
	return backup.Write(w, o.d, o.st, cur.Recipients, o.now())
}

// adminBackup is "sandyq admin backup -o FILE": hot through the control
// socket while serving, else from the store directly. FILE appears whole
// (0600) or not at all.
func adminBackup(ctx context.Context, e *env, d *datadir.Dir, args []string) error {
	fs := newFlagSet("admin backup")
	out := fs.String("o", "", "backup file to create")
	if err := parseFlags(e, fs, adminUsage, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usageErr(e, "admin", "usage: backup -o FILE")
	}
	var info *backup.Info
	err := backup.WriteFile(*out, func(w io.Writer) error {
		err := control.CallStream(ctx, d.Join(datadir.ControlSocket), opBackup, struct{}{}, w)
		if !errors.Is(err, control.ErrNotRunning) {
			var ce *control.Error
			if errors.As(err, &ce) {
				return errors.New(ce.Msg)
			}
			return err
		}
		o, err := openDirect(d)
		if err != nil {
			return err
		}
		defer o.st.Close()
		info, err = o.backupTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if info != nil {
		infof(e, "backed up %d sources, %d items, %d replies (cursor %d) to %s", info.Sources, info.Items, info.Replies, info.LastCursor, *out)
	} else {
		infof(e, "backed up the running server to %s", *out)
	}
	hintf(e, "only the newsroom's identities can decrypt it; check it with \"sandyq admin restore --check -i IDENTITY %s\"", *out)
	return nil
}

const restoreUsage = `usage: sandyq admin restore -i IDENTITY [--check] FILE DIR

Restores the backup FILE as the data directory DIR, which must not exist
or be empty (never over a running drop). Everything is checked first —
every file against the backup's manifest, the store with "check" — and
DIR appears complete or not at all, even if the restore is killed.

The backup is encrypted to the newsroom's recipient set, so IDENTITY is one
of the newsroom's identities (a plain age identity file). Bring it to the
server only for the restore, on removable media, and take it away after.

--check only decrypts and verifies FILE, writing nothing.

After a restore, compare the instance key and onion addresses it prints
with the ones you know: a backup decrypts for anyone who made it with the
public recipients, and only the instance key shows it is yours.

Examples:
    sandyq admin restore -i /media/usb/alice.identity /media/usb/sandyq.backup /var/lib/sandyq
    sandyq admin restore --check -i /media/usb/alice.identity sandyq.backup
`

// adminRestore is "sandyq admin restore": it needs no existing data
// directory (it makes one).
func adminRestore(e *env, args []string) error {
	fs := newFlagSet("admin restore")
	var ids multiFlag
	fs.Var(&ids, "i", "identity file")
	check := fs.Bool("check", false, "only verify")
	if err := parseFlags(e, fs, restoreUsage, args); err != nil {
		return err
	}
	want := 2
	if *check {
		want = 1
	}
	if fs.NArg() != want || len(ids) == 0 {
		return usageErr(e, "admin restore", "usage: restore -i IDENTITY [--check] FILE DIR")
	}
	var identities []age.Identity
	for _, p := range ids {
		b, err := readSmallFile(e, p, 64<<10)
		if err != nil {
			return fmt.Errorf("reading -i: %w", err)
		}
		if strings.Contains(b, "-----BEGIN AGE ENCRYPTED FILE-----") || strings.HasPrefix(b, "age-encryption.org/") {
			return fmt.Errorf("%s is passphrase-protected: decrypt it for the restore with \"age -d %s > id.txt\" on removable media", p, p)
		}
		got, err := age.ParseIdentities(strings.NewReader(b))
		if err != nil {
			return fmt.Errorf("-i %s: not an age identity file", p)
		}
		identities = append(identities, got...)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("opening the backup: %w", err)
	}
	defer f.Close()
	var info *backup.Info
	if *check {
		info, err = backup.Inspect(f, identities)
	} else {
		info, err = backup.Restore(f, identities, fs.Arg(1))
	}
	if err != nil {
		return err
	}
	what := "backup checked"
	if !*check {
		what = "restored into " + info.Dir
	}
	infof(e, "%s: made %s, %d sources, %d items, %d replies (cursor %d)", what, info.Day.Format("2006-01-02"),
		info.Sources, info.Items, info.Replies, info.LastCursor)
	infof(e, "instance key: %s (compare with the one your journalists pinned)", info.InstanceKey)
	for _, o := range info.Onions {
		fmt.Fprintf(e.stdout, "%s http://%s/\n", o.Name, o.Addr)
	}
	if !*check {
		if err := flagRetiredItems(e, info.Dir); err != nil {
			warnf(e, "could not look for items of retired sets: %v", err)
		}
		hintf(e, "start it with \"sandyq serve -d %s\"; run \"sandyq admin -d %s check\" first if you like", info.Dir, info.Dir)
	}
	return nil
}

// flagRetiredItems warns about items encrypted to sets that are no longer
// valid: restored from an old backup after rotations, they may belong to
// epochs whose identities the journalists have destroyed.
func flagRetiredItems(e *env, dir string) error {
	d, err := datadir.Open(dir)
	if err != nil {
		return err
	}
	o, err := openDirect(d)
	if err != nil {
		return err
	}
	defer o.st.Close()
	items, err := o.st.ListItems(0, 0)
	if err != nil {
		return err
	}
	count := map[[16]byte]int{}
	for _, it := range items {
		count[it.SetID]++
	}
	now := time.Now()
	for id, n := range count {
		var s *keyring.Set
		if o.kr != nil {
			s, _ = o.kr.ByID(id)
		}
		switch {
		case s == nil:
			warnf(e, "%d items are encrypted to set %x, which is not installed: check that the newsroom still holds its identities", n, id)
		case !now.Before(s.NotAfter):
			warnf(e, "%d items are encrypted to set %s, retired on %s: if that epoch's identities were destroyed, they can no longer be opened", n, s.IDString(), s.NotAfter.Format("2006-01-02"))
		}
	}
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
