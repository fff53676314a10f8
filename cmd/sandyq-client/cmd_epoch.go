package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/client/epoch"
	"sandyq/client/vault"
	"sandyq/crypto/agekey"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

const epochHelp = `usage: sandyq-client epoch new|schedule|list|destroy --keys KEYDIR ...

Epochs give forward secrecy. The newsroom signs a series of recipient sets
with consecutive validity windows; the server encrypts each submission to
the set in force when it arrives, and switches to the next set on its own
at each boundary. Each epoch's set holds a fresh identity of its own, kept
in a key directory KEYDIR. Once an epoch is over and its items are
imported (or rewrapped, "sandyq-client rewrap"), "epoch destroy" removes
its identity: the ciphertext of that epoch — on the server, in its backups,
on a USB stick — then stays unreadable even to someone who later seizes
the server and this laptop together.

KEYDIR (mode 0700) holds SETID.key (the identity, mode 0600, passphrase
optional) and SETID.set (the signed set) per epoch. "open" and "rewrap"
take --keys KEYDIR and try every identity in it.

Commands:
    new        make the identity of one epoch and sign its set
    schedule   make the identities of several consecutive epochs and sign
               their sets
    list       list the epochs of KEYDIR: window, state, identity
    destroy    destroy the identity of an epoch that is over

Examples:
    sandyq-client epoch schedule --keys keys --start 2026-01-01 --valid 30d \
        --count 12 -k newsroom.key -o sets-2026
    sandyq-client epoch list --keys keys
    sandyq-client epoch destroy --keys keys --vault vault \
        --bundle /media/usb/bundle.sqb 0a1b2c3d
`

const epochNewHelp = `usage: sandyq-client epoch new --keys KEYDIR -k KEYFILE -o SET [flags] [RECIPIENT...]

Make a new post-quantum age identity for one epoch, sign a recipient set
of its recipient (and of any RECIPIENT or -R FILE given, for example
colleagues' identities of the same epoch), valid from --start for --valid,
and keep both in KEYDIR as SETID.key and SETID.set. SET gets a copy of the
signed set (mode 0644: it is public) for "sandyq admin recipients install".
KEYDIR is created (mode 0700) if it does not exist. The set ID is printed on
stdout.

Forward secrecy holds for keys that are destroyed when their epoch ends:
recipients given here that are not renewed per epoch keep every epoch
readable.

Flags:
    --keys KEYDIR       the key directory (required)
    -k KEYFILE          the newsroom secret key file (required)
    -o SET              the signed set to create (required)
    --start TIME        start of the epoch: RFC 3339 or a date (midnight
                        UTC); default now
    --valid DURATION    length of the epoch: days ("30d") or a Go duration;
                        default 30d
    --passphrase        protect the identity with a passphrase (read from
                        the terminal, or $SANDYQ_PASSPHRASE)
    -R FILE             more recipients, one per line (repeatable)

Examples:
    sandyq-client epoch new --keys keys -k newsroom.key -o set.txt \
        --start 2026-02-01 --valid 30d
`

const epochScheduleHelp = `usage: sandyq-client epoch schedule --keys KEYDIR -k KEYFILE -o DIR --count N [flags] [RECIPIENT...]

Make N consecutive epochs at once, as "epoch new" makes one: epoch i (from
1) is valid from --start + (i-1) x --valid to --start + i x --valid. Each
gets a fresh identity in KEYDIR; the signed sets are written to the new
directory DIR as NN-SETID.set (NN from 01, in time order), ready for
"sandyq admin recipients install DIR/*.set" on the server, which switches
from one to the next on its own. With --passphrase, one passphrase protects
every identity. One line per epoch is printed on stdout:

    SETID  NOT-BEFORE  NOT-AFTER

Flags:
    --keys KEYDIR       the key directory (required)
    -k KEYFILE          the newsroom secret key file (required)
    -o DIR              the directory to create for the signed sets (required)
    --count N           how many epochs, 1 to 120 (required)
    --start TIME        start of the first epoch; default now
    --valid DURATION    length of each epoch; default 30d
    --passphrase        protect the identities with a passphrase
    -R FILE             more recipients for every epoch (repeatable)

Examples:
    sandyq-client epoch schedule --keys keys -k newsroom.key -o sets-2026 \
        --start 2026-01-01 --valid 30d --count 12
`

const epochListHelp = `usage: sandyq-client epoch list --keys KEYDIR [--newsroom-key PUB]

List the epochs of KEYDIR, oldest first, one line each, tab-separated:

    SETID  NOT-BEFORE  NOT-AFTER  STATE  IDENTITY

STATE is past, current or future (by this computer's clock); IDENTITY is
"present", "destroyed" (the set is there, the identity not), or "present,
not in its set" (a plain identity file whose recipient the set lacks).
With --newsroom-key, each set's signature is checked against that key;
without it, only that the set is intact.

Examples:
    sandyq-client epoch list --keys keys
    sandyq-client epoch list --keys keys --newsroom-key sandyq-newsroom1...
`

const epochDestroyHelp = `usage: sandyq-client epoch destroy --keys KEYDIR [--vault VAULT --bundle BUNDLE...] [--force] [--yes] SETID

Destroy the identity of the epoch SETID (its full ID or 8 or more of its
first hex digits): the file is overwritten with zeros, synced and removed,
and the directory synced. Nothing encrypted to that epoch can be decrypted
with this laptop afterwards: import (or rewrap) everything of the epoch
first. The signed set stays in KEYDIR, so "epoch list" shows the epoch as
destroyed.

Before destroying, the command checks, and refuses without --force:

  - that the epoch is over: while it is current or future the server still
    encrypts new submissions to it;
  - with --vault and --bundle: that every item of the epoch that the
    bundles list (the submissions bundles fetched from the server, signed
    by the instance key the vault pinned) is in the vault. Without them it
    cannot know what the server holds, and says so.

It asks for confirmation on the terminal; without a terminal, pass --yes.

Flash storage (SSDs, USB sticks, SD cards) and copy-on-write or journaling
file systems may keep old copies of the file's blocks after it is
overwritten. What protects those is full-disk encryption of this laptop,
and destroying its disk encryption key (and the laptop's disk) when the
laptop is retired. Copies of the key directory (backups) must be destroyed
too.

Flags:
    --keys KEYDIR     the key directory (required)
    --vault VAULT     the vault the epoch's items were opened into
    --bundle BUNDLE   a submissions bundle to check against (repeatable)
    --force           destroy even if a check fails
    --yes             do not ask for confirmation

Exit codes: 0 destroyed; 1 refused or failed (nothing destroyed).

Examples:
    sandyq-client epoch destroy --keys keys --vault vault \
        --bundle /media/usb/bundle-03.sqb --bundle /media/usb/bundle-04.sqb 0a1b2c3d
`

// maxEpochs bounds epoch schedule --count.
const maxEpochs = 120

func runEpoch(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "epoch", epochHelp, args, map[string]func(context.Context, *env, []string) error{
		"new":      runEpochNew,
		"schedule": runEpochSchedule,
		"list":     runEpochList,
		"destroy":  runEpochDestroy,
	})
}

// epochFlags are the flags that epoch new and schedule share.
type epochFlags struct {
	keys, keyFile, out, start, valid *string
	passphrase                       *bool
	files                            []string
}

func (f *epochFlags) register(fl interface {
	String(string, string, string) *string
	Bool(string, bool, string) *bool
	Func(string, string, func(string) error)
}) {
	f.keys = fl.String("keys", "", "")
	f.keyFile = fl.String("k", "", "")
	f.out = fl.String("o", "", "")
	f.start = fl.String("start", "", "")
	f.valid = fl.String("valid", "30d", "")
	f.passphrase = fl.Bool("passphrase", false, "")
	fl.Func("R", "", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		f.files = append(f.files, s)
		return nil
	})
}

// plan is what epoch new and schedule make: the window of the first epoch,
// the extra recipients, the newsroom key.
type plan struct {
	start time.Time
	valid time.Duration
	extra []string
	key   *sign.PrivateKey
}

func (f *epochFlags) plan(e *env, name string, pos []string) (*plan, error) {
	switch {
	case *f.keys == "":
		return nil, usageErr(e, name, "missing --keys KEYDIR")
	case *f.keyFile == "":
		return nil, usageErr(e, name, "missing -k KEYFILE")
	case *f.out == "":
		return nil, usageErr(e, name, "missing -o")
	case looksSecret(*f.keyFile) || looksSecret(*f.out) || looksSecret(*f.keys):
		return nil, usageErr(e, name, "--keys, -k and -o take file names, not keys (not shown: it looks like a secret key)")
	}
	p := &plan{start: e.now().UTC().Truncate(time.Second)}
	var err error
	if *f.start != "" {
		if p.start, err = parseTime(*f.start); err != nil {
			return nil, usageErr(e, name, "invalid --start: %v", err)
		}
	}
	if p.valid, err = parseValidity(*f.valid); err != nil {
		return nil, usageErr(e, name, "invalid --valid: %v", err)
	}
	p.extra = pos
	for _, file := range f.files {
		if looksSecret(file) {
			return nil, usageErr(e, name, "-R takes a file name, not a key (not shown: it looks like a secret key)")
		}
		r, err := readRecipientsFile(file)
		if err != nil {
			return nil, err
		}
		p.extra = append(p.extra, r...)
	}
	for i, r := range p.extra {
		if _, _, err := recipients.Canonical(r); err != nil {
			err = fmt.Errorf("RECIPIENT %d: %w", i+1, err)
			if errors.Is(err, recipients.ErrSecretKey) {
				err = &hintError{err, `give the recipient that "sandyq-client keygen" printed, not a secret key`}
			}
			return nil, err
		}
	}
	if p.key, err = readNewsroomKey(*f.keyFile); err != nil {
		return nil, err
	}
	return p, nil
}

// newEpoch is one epoch made in memory: its signed set and identity file.
type newEpoch struct {
	set  *recipients.Set
	raw  []byte
	file []byte // the identity file, encrypted if a passphrase was given
}

// makeEpoch makes the identity and the signed set of the epoch
// [start, start+valid). pass is "" for a plain identity file.
func makeEpoch(e *env, p *plan, start time.Time, pass string) (*newEpoch, error) {
	id, err := agekey.GenerateHybrid(e.rand)
	if err != nil {
		return nil, fmt.Errorf("generating the identity: %w", err)
	}
	recipient := id.Recipient().String()
	set, err := recipients.NewSet(e.rand, append([]string{recipient}, p.extra...), start, start.Add(p.valid))
	if err != nil {
		return nil, fmt.Errorf("recipient set: %w", err)
	}
	raw, err := set.Sign(p.key)
	if err != nil {
		return nil, fmt.Errorf("signing the recipient set: %w", err)
	}
	if _, err := recipients.Parse(raw, p.key.Public()); err != nil {
		return nil, fmt.Errorf("internal error: the signed set does not verify: %w", err)
	}
	var text bytes.Buffer
	fmt.Fprintf(&text, "# created: %s\n", e.now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&text, "# epoch: %s\n", set.IDString())
	fmt.Fprintf(&text, "# public key: %s\n", recipient)
	fmt.Fprintf(&text, "%s\n", id)
	file := text.Bytes()
	if pass != "" {
		enc, err := encryptWithPassphrase(file, pass, e.scryptLogN)
		clear(file)
		if err != nil {
			return nil, err
		}
		file = enc
	}
	return &newEpoch{set: set, raw: raw, file: file}, nil
}

func runEpochNew(ctx context.Context, e *env, args []string) error {
	const name = "epoch new"
	fl := newFlagSet(name)
	var f epochFlags
	f.register(fl)
	pos, err := parseFlags(e, fl, epochNewHelp, args)
	if err != nil {
		return err
	}
	p, err := f.plan(e, name, pos)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(*f.out); err == nil {
		return errors.New("the -o file already exists; refusing to overwrite it")
	}
	pass := ""
	if *f.passphrase {
		if pass, err = newPassphrase(e); err != nil {
			return err
		}
	}
	ep, err := makeEpoch(e, p, p.start, pass)
	if err != nil {
		return err
	}
	defer clear(ep.file)
	d, err := epoch.Create(*f.keys)
	if err != nil {
		return keysErr(err)
	}
	defer d.Close()
	if err := d.Add(ep.set.ID, ep.raw, ep.file); err != nil {
		return err
	}
	if err := writeNew(*f.out, 0o644, ep.raw, "-o"); err != nil {
		return &hintError{err, fmt.Sprintf("the epoch is in the key directory: its set is %s.set there", ep.set.IDString())}
	}
	infof(e, "made the identity of epoch %s in the key directory; signed its set of %d %s recipients, valid from %s until %s",
		ep.set.IDString(), len(ep.set.Recipients), ep.set.Kind, ep.set.NotBefore.Format(time.RFC3339), ep.set.NotAfter.Format(time.RFC3339))
	hintf(e, "install the set on the server with \"sandyq admin recipients install\"")
	fmt.Fprintln(e.stdout, ep.set.IDString())
	return nil
}

func runEpochSchedule(ctx context.Context, e *env, args []string) error {
	const name = "epoch schedule"
	fl := newFlagSet(name)
	var f epochFlags
	f.register(fl)
	count := fl.Int("count", 0, "")
	pos, err := parseFlags(e, fl, epochScheduleHelp, args)
	if err != nil {
		return err
	}
	if *count < 1 || *count > maxEpochs {
		return usageErr(e, name, "--count must be 1 to %d", maxEpochs)
	}
	p, err := f.plan(e, name, pos)
	if err != nil {
		return err
	}
	if end := p.start.Add(time.Duration(*count) * p.valid); end.Year() > 9999 || end.Before(p.start) {
		return usageErr(e, name, "the schedule ends after the year 9999")
	}
	if _, err := os.Lstat(*f.out); err == nil {
		return errors.New("the -o directory already exists; refusing to write into it")
	}
	pass := ""
	if *f.passphrase {
		if pass, err = newPassphrase(e); err != nil {
			return err
		}
	}
	// Everything is made in memory first: a bad key or recipient fails
	// before anything is written.
	var eps []*newEpoch
	for i := range *count {
		ep, err := makeEpoch(e, p, p.start.Add(time.Duration(i)*p.valid), pass)
		if err != nil {
			return err
		}
		defer clear(ep.file)
		eps = append(eps, ep)
	}
	d, err := epoch.Create(*f.keys)
	if err != nil {
		return keysErr(err)
	}
	defer d.Close()
	if err := os.Mkdir(*f.out, 0o755); err != nil {
		return fileErr("creating", "-o", err)
	}
	for i, ep := range eps {
		if err := d.Add(ep.set.ID, ep.raw, ep.file); err != nil {
			return fmt.Errorf("epoch %d of %d: %w", i+1, len(eps), err)
		}
		out := filepath.Join(*f.out, fmt.Sprintf("%02d-%s.set", i+1, ep.set.IDString()))
		if err := writeNew(out, 0o644, ep.raw, "-o"); err != nil {
			return fmt.Errorf("epoch %d of %d: %w", i+1, len(eps), err)
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", ep.set.IDString(),
			ep.set.NotBefore.Format(time.RFC3339), ep.set.NotAfter.Format(time.RFC3339))
	}
	infof(e, "made %s in the key directory and their signed sets in the -o directory",
		plural(len(eps), "epoch", "epochs"))
	hintf(e, "install them all on the server with \"sandyq admin recipients install DIR/*.set\"")
	return nil
}

func runEpochList(ctx context.Context, e *env, args []string) error {
	const name = "epoch list"
	fl := newFlagSet(name)
	keys := fl.String("keys", "", "")
	newsroom := fl.String("newsroom-key", "", "")
	pos, err := parseFlags(e, fl, epochListHelp, args)
	if err != nil {
		return err
	}
	switch {
	case *keys == "":
		return usageErr(e, name, "missing --keys KEYDIR")
	case len(pos) > 0:
		return usageErr(e, name, "epoch list takes no arguments")
	}
	var nk *sign.PublicKey
	if *newsroom != "" {
		if nk, err = readPublicKey(*newsroom, sign.Newsroom, "--newsroom-key"); err != nil {
			return err
		}
	}
	d, err := epoch.Open(*keys)
	if err != nil {
		return keysErr(err)
	}
	defer d.Close()
	es, err := d.List(nk)
	if err != nil {
		return err
	}
	now := e.now()
	for _, ep := range es {
		id := "destroyed"
		switch {
		case ep.Identity && ep.NotInSet:
			id = "present, not in its set"
		case ep.Identity:
			id = "present"
		}
		if ep.Set == nil {
			fmt.Fprintf(e.stdout, "%s\t-\t-\tunknown\t%s\n", ep.ID, id)
			warnf(e, "epoch %s: the set file: %v", ep.ID, ep.SetErr)
			continue
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\t%s\n", ep.ID, ep.Set.NotBefore.Format(time.RFC3339),
			ep.Set.NotAfter.Format(time.RFC3339), ep.State(now), id)
	}
	if len(es) == 0 {
		infof(e, "the key directory holds no epoch")
	}
	return nil
}

func runEpochDestroy(ctx context.Context, e *env, args []string) error {
	const name = "epoch destroy"
	fl := newFlagSet(name)
	keys := fl.String("keys", "", "")
	vaultDir := fl.String("vault", "", "")
	var bundles []string
	fl.Func("bundle", "", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		bundles = append(bundles, s)
		return nil
	})
	force := fl.Bool("force", false, "")
	yes := fl.Bool("yes", false, "")
	pos, err := parseFlags(e, fl, epochDestroyHelp, args)
	if err != nil {
		return err
	}
	switch {
	case *keys == "":
		return usageErr(e, name, "missing --keys KEYDIR")
	case len(pos) != 1:
		return usageErr(e, name, "give exactly one SETID")
	case (*vaultDir == "") != (len(bundles) == 0):
		return usageErr(e, name, "--vault and --bundle go together")
	}
	d, err := epoch.Open(*keys)
	if err != nil {
		return keysErr(err)
	}
	defer d.Close()
	id, err := d.Find(pos[0])
	if err != nil {
		return &hintError{err, `run "sandyq-client epoch list --keys KEYDIR" for the epochs`}
	}
	es, err := d.List(nil)
	if err != nil {
		return err
	}
	var ep epoch.Epoch
	for _, c := range es {
		if c.ID == id {
			ep = c
		}
	}
	if !ep.Identity {
		return fmt.Errorf("the identity of epoch %s is already destroyed", id)
	}

	var problems []string
	switch {
	case ep.Set == nil:
		problems = append(problems, fmt.Sprintf("its set file cannot be read (%v), so its window is unknown", ep.SetErr))
	case ep.State(e.now()) != "past":
		problems = append(problems, fmt.Sprintf("the epoch is %s (until %s): the server may still encrypt new submissions to it",
			ep.State(e.now()), ep.Set.NotAfter.Format(time.RFC3339)))
	}
	if len(bundles) > 0 {
		all, missing, err := epochItems(*vaultDir, bundles, id)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%d of the %d items of the epoch in the bundles are not in the vault (%s): open the bundles first",
				len(missing), len(all), listIDs(missing)))
		} else {
			infof(e, "all %s of the epoch in the bundles are in the vault", plural(len(all), "item", "items"))
		}
	} else {
		warnf(e, "cannot check that every item of the epoch was imported: pass --vault and --bundle with the bundles fetched since the epoch began")
	}
	for _, p := range problems {
		if *force {
			warnf(e, "%s; destroying all the same (--force)", p)
		} else {
			errorf(e, "%s", p)
		}
	}
	if len(problems) > 0 && !*force {
		return errors.New("the epoch's identity was not destroyed")
	}
	if !*yes {
		if err := confirmDestroy(e, id); err != nil {
			return err
		}
	}
	if err := d.Destroy(id); err != nil {
		return err
	}
	infof(e, "destroyed the identity of epoch %s", id)
	warnf(e, "flash storage and journaling file systems may keep old copies of the file: rely on full-disk encryption, and destroy copies of the key directory")
	return nil
}

// confirmDestroy asks the user to confirm the destruction of epoch id.
func confirmDestroy(e *env, id string) error {
	if !e.stdinTerminal {
		return &hintError{errors.New("not confirmed: stdin is not a terminal"), "pass --yes to destroy without asking"}
	}
	fmt.Fprintf(e.stderr, "sandyq-client: destroy the identity of epoch %s for ever? Nothing encrypted to it can be read afterwards. [y/N] ", id)
	line, err := readLine(e.stdin, maxAnswer)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed; nothing was destroyed")
}

// epochItems reads the manifests of the submissions bundles (signed by the
// instance key the vault pinned) and returns the IDs of the items they
// list of the set id, and of those of them that are not in the vault.
func epochItems(vaultDir string, bundles []string, id string) (all, missing []string, err error) {
	var setID [16]byte
	if _, err := hex.Decode(setID[:], []byte(id)); err != nil {
		return nil, nil, fmt.Errorf("set ID %s: %w", id, err)
	}
	v, err := vault.OpenExisting(vaultDir)
	if err != nil {
		return nil, nil, vaultErr(err, "--vault")
	}
	defer v.Close()
	pin, err := v.LoadPin()
	if err != nil {
		return nil, nil, err
	}
	if pin == nil {
		return nil, nil, errors.New("the --vault vault has no pinned instance key: open a bundle into it first")
	}
	seen := map[[16]byte]bool{}
	for i, path := range bundles {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fileErr("opening", fmt.Sprintf("--bundle %d", i+1), err)
		}
		// Only the header and the signed manifest are read.
		br, err := bundle.NewReader(f, bundle.Submissions, bundle.TrustKeys(pin), nil)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("the --bundle %d file: %w", i+1, err)
		}
		for _, it := range br.Manifest().Items {
			if it.SetID != setID || seen[it.ID] {
				continue
			}
			seen[it.ID] = true
			h := hex.EncodeToString(it.ID[:])
			all = append(all, h)
			if _, err := v.Entry(h); errors.Is(err, vault.ErrNotFound) {
				missing = append(missing, h)
			} else if err != nil {
				return nil, nil, err
			}
		}
	}
	return all, missing, nil
}

// listIDs shows up to five IDs by their first 8 digits.
func listIDs(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i == 5 {
			fmt.Fprintf(&b, ", …")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(id[:8])
	}
	return b.String()
}

// keysErr adds a hint to an error opening a key directory.
func keysErr(err error) error {
	switch {
	case errors.Is(err, epoch.ErrUnsafeDir):
		return &hintError{fmt.Errorf("the --keys directory: %w", err),
			"a key directory must be a directory of mode 0700 (chmod 700), not a symlink"}
	case errors.Is(err, fs.ErrNotExist):
		return &hintError{errors.New("the --keys directory does not exist"),
			`make it with "sandyq-client epoch new" or "epoch schedule"`}
	}
	return fmt.Errorf("the --keys directory: %w", err)
}

// readKeyDir returns the identities of every epoch of the key directory
// whose identity is present. Passphrase-protected ones ask for their
// passphrase once: the same passphrase is tried on every file, and only a
// file it does not open asks again.
func readKeyDir(e *env, path string) ([]age.Identity, error) {
	d, err := epoch.Open(path)
	if err != nil {
		return nil, keysErr(err)
	}
	defer d.Close()
	es, err := d.List(nil)
	if err != nil {
		return nil, err
	}
	var pass string
	var ids []age.Identity
	for _, ep := range es {
		if !ep.Identity {
			continue
		}
		data, err := d.IdentityFile(ep.ID)
		if err != nil {
			return nil, fmt.Errorf("epoch %s: %w", ep.ID, err)
		}
		ask := func(prompt string) func() (string, error) {
			return func() (string, error) {
				if pass == "" {
					p, err := askPassphrase(e, prompt)
					if err != nil {
						return "", err
					}
					pass = p
				}
				return pass, nil
			}
		}
		got, err := epoch.ParseIdentity(data, ask("Enter the passphrase of the epoch identities: "))
		if errors.Is(err, epoch.ErrPassphrase) && e.getenv(passphraseEnv) == "" {
			pass = ""
			got, err = epoch.ParseIdentity(data, ask(fmt.Sprintf("Enter the passphrase of epoch %s: ", ep.ID[:8])))
		}
		clear(data)
		if err != nil {
			return nil, fmt.Errorf("epoch %s: %w", ep.ID, err)
		}
		ids = append(ids, got...)
	}
	if len(ids) == 0 {
		return nil, errors.New("the --keys directory holds no identity")
	}
	return ids, nil
}
