package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"sandyq/client/bundle"
	"sandyq/client/vault"
	"sandyq/crypto/sign"
)

const openHelp = `usage: sandyq-client open (-i IDENTITY... | --keys KEYDIR) -o VAULT [--instance-key KEY|FILE] [--trust-on-first-use] BUNDLE

Check a submissions bundle and decrypt its items into the vault directory
VAULT.

The bundle must be signed by the server's instance key. The vault pins that
key in VAULT/.sandyq/instance.pub and afterwards accepts bundles signed by
it only; anything else is refused before any item is read.

  - With --instance-key KEY|FILE (the key "sandyq-instance1...", as
    "sandyq admin status" shows it on the server, or a file holding it):
    the key is pinned if nothing is pinned yet; a different pinned key is
    refused.
  - Without it, on first use (nothing pinned): the bundle's signer key and
    its fingerprint are printed, and you are asked to confirm that it is the
    key the admin reads out from "sandyq admin status" on the server; only
    then is it pinned. When stdin is not a terminal the bundle is refused
    (pass --instance-key), unless --trust-on-first-use is given, which pins
    the key without asking: use it only when you compare the printed key
    with the admin's afterwards.
  - Later: the pinned key is used; --instance-key is not needed.

A pin is never changed by this command. If the server's instance key really
changed (a new server, a restore), check the new key with the admin first,
then remove VAULT/.sandyq/instance.pub and open the next bundle with
--instance-key.

VAULT is created with mode 0700 if it does not exist; an existing VAULT must
be a directory of mode 0700 (not a symlink). Each source gets a directory
named by its ID; messages are stored as msg-SEQ.txt and files as
SEQ-NAME, where NAME is the original file name made safe. Files are mode
0600. An item is written only once its SHA-256 (signed manifest) and its
envelope (trailer, and its item ID, source, kind and sequence compared with
the manifest) have been checked; on any error nothing of it is kept.
Opening the same bundle again skips the items already in the vault.

Each source's reply recipient (the key replies to it are encrypted to, from
the bundle) is recorded in the vault for "sandyq-client reply". A bundle
that gives a source an invalid one is refused; a recipient that changed is
named in a warning, since a server that lies could redirect replies so.

IDENTITY is an age identity file ("sandyq-client keygen"): plain, or
encrypted with a passphrase (keygen --passphrase), which is then read from
the terminal without echo, or from $SANDYQ_PASSPHRASE if set. -i may be
given several times, and --keys KEYDIR adds every identity of a key
directory ("sandyq-client epoch"): each item is opened with whichever of
them it was encrypted to. The passphrase of the key directory's identities
is asked once (again only for one it does not open).

The items written are listed on stdout as "list" shows them. Items that
no identity given can decrypt are named in a warning and skipped.

Flags:
    -i IDENTITY              an age identity file (repeatable)
    --keys KEYDIR            every identity of the key directory KEYDIR
                             (-i, --keys or both are required)
    -o VAULT                 the vault directory (required)
    --instance-key KEY|FILE  the server's instance public key, or a file
                             holding it; pinned on first use
    --trust-on-first-use     when nothing is pinned, pin the bundle's signer
                             without asking (it is still printed)

Exit codes: 0 every item was imported, skipped as already there, or not
for this identity; 1 an error (items before it stay in the vault), or the
key was not confirmed.

Examples:
    sandyq-client open -i journalist.age -o vault \
        --instance-key sandyq-instance1... /media/usb/bundle.sqb
    sandyq-client open -i journalist.age -o vault /media/usb/bundle-2.sqb
    sandyq-client open --keys keys -o vault /media/usb/bundle-3.sqb
`

func runOpen(ctx context.Context, e *env, args []string) error {
	fl := newFlagSet("open")
	var idPaths []string
	fl.Func("i", "", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		idPaths = append(idPaths, s)
		return nil
	})
	keys := fl.String("keys", "", "")
	out := fl.String("o", "", "")
	instKey := fl.String("instance-key", "", "")
	tofu := fl.Bool("trust-on-first-use", false, "")
	pos, err := parseFlags(e, fl, openHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(idPaths) == 0 && *keys == "":
		return usageErr(e, "open", "missing -i IDENTITY or --keys KEYDIR")
	case *out == "":
		return usageErr(e, "open", "missing -o VAULT")
	case len(pos) != 1:
		return usageErr(e, "open", "open takes exactly one BUNDLE")
	}
	var key *sign.PublicKey
	if *instKey != "" {
		if key, err = readInstanceKey(*instKey); err != nil {
			return err
		}
	}

	// The vault may not exist yet: then nothing is pinned, and it is
	// created only once the bundle's signature and signer were accepted.
	v, err := vault.OpenExisting(*out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return vaultErr(err, "-o")
	}
	defer func() {
		if v != nil {
			v.Close()
		}
	}()
	var pinned *sign.PublicKey
	if v != nil {
		if pinned, err = v.LoadPin(); err != nil {
			return &hintError{err, "remove the file only after checking the instance key with the admin"}
		}
	}
	if key != nil && pinned != nil && !key.Equal(pinned) {
		return pinMismatch(pinned, key, "the --instance-key given")
	}
	ids, err := gatherIdentities(e, idPaths, *keys)
	if err != nil {
		return err
	}

	f, err := os.Open(pos[0])
	if err != nil {
		return fileErr("opening", "BUNDLE", err)
	}
	defer f.Close()

	var signer *sign.PublicKey // the bundle's signer, once its signature verified
	var confirmErr error       // why a first-use key was not accepted
	var saveErr error          // why a first-use key could not be pinned
	var trust bundle.TrustFunc
	switch {
	case key != nil:
		trust = bundle.TrustKeys(key)
	case pinned != nil:
		trust = bundle.TrustKeys(pinned)
	default:
		// First use: ask, then pin through the vault (created then).
		store := bundle.PinFuncs{
			Load: func() (*sign.PublicKey, error) { return nil, nil },
			Save: func(k *sign.PublicKey) error {
				if v == nil {
					if v, saveErr = vault.Open(*out); saveErr != nil {
						v = nil
						saveErr = vaultErr(saveErr, "-o")
						return saveErr
					}
				}
				saveErr = v.SavePin(k)
				return saveErr
			},
		}
		trust = bundle.TrustOnFirstUse(store, func(k *sign.PublicKey) error {
			confirmErr = confirmKey(e, k, *tofu)
			return confirmErr
		})
	}
	record := func(k *sign.PublicKey) error { signer = k; return trust(k) }
	br, err := bundle.NewReader(bufio.NewReaderSize(f, 1<<16), bundle.Submissions, record, nil)
	untrusted := err != nil && errors.Is(err, bundle.ErrUntrustedSigner) && signer != nil
	switch {
	case confirmErr != nil:
		return confirmErr
	case saveErr != nil:
		return fmt.Errorf("pinning the instance key: %w", saveErr)
	case untrusted && key == nil && pinned != nil:
		return pinMismatch(pinned, signer, "the bundle's signer")
	case untrusted && key != nil:
		return &hintError{fmt.Errorf("%w: the bundle is signed by %s (fingerprint %s), not by the --instance-key given (fingerprint %s)",
			bundle.ErrUntrustedSigner, signer, signer.Fingerprint(), key.Fingerprint()),
			"compare the keys with \"sandyq admin status\" on the server"}
	case err != nil:
		return err
	}

	if v == nil {
		if v, err = vault.Open(*out); err != nil {
			return vaultErr(err, "-o")
		}
	}
	if key != nil && pinned == nil {
		if err := bundle.Pin(v, key); err != nil {
			return fmt.Errorf("pinning the instance key: %w", err)
		}
		infof(e, "pinned the instance key %s (fingerprint %s) in this vault", key, key.Fingerprint())
	}

	rep, err := v.Import(br, ids)
	if rep != nil {
		for _, ent := range rep.Imported {
			fmt.Fprintln(e.stdout, formatEntry(&ent))
		}
		for _, id := range rep.Unopened {
			warnf(e, "item %s: the identity cannot decrypt it; skipped", id)
		}
		for _, src := range rep.ChangedRecipients {
			warnf(e, "source %s: the bundle changes its reply recipient; replies will go to the new one (a server that lies could redirect replies this way: ask the admin if this is expected)", src[:16])
		}
		infof(e, "%d items imported, %d already in the vault, %d not for this identity",
			len(rep.Imported), len(rep.Skipped), len(rep.Unopened))
	}
	if err != nil {
		if errors.Is(err, vault.ErrBadRecipient) {
			return &hintError{fmt.Errorf("opening the bundle: %w", err), "nothing was imported; the server sent a reply key that is not an age recipient: tell the admin"}
		}
		return fmt.Errorf("opening the bundle: %w", err)
	}
	return nil
}

// readInstanceKey parses --instance-key: the key itself, or a file that
// holds it (as bundle.ReadPin reads it). Neither the value nor the file's
// content is ever echoed.
func readInstanceKey(val string) (*sign.PublicKey, error) {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(val)), "sandyq-") {
		k, err := sign.ParsePublicKey(val, sign.Instance)
		if err != nil {
			return nil, fmt.Errorf("--instance-key: %w", err)
		}
		return k, nil
	}
	data, err := readSmall(val, "--instance-key")
	if err != nil {
		return nil, err
	}
	k, err := bundle.ReadPin(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the --instance-key file does not hold an instance key: %w", errors.Unwrap(err))
	}
	return k, nil
}

// pinMismatch is the error for a key that differs from the vault's pin.
func pinMismatch(pinned, other *sign.PublicKey, what string) error {
	return &hintError{
		fmt.Errorf("%w: %s is %s (fingerprint %s), but this vault has pinned %s (fingerprint %s)",
			bundle.ErrPinMismatch, what, other, other.Fingerprint(), pinned, pinned.Fingerprint()),
		"if the server's instance key really changed, check the new key with the admin (\"sandyq admin status\"), then remove .sandyq/instance.pub in the vault directory and open the bundle with --instance-key",
	}
}

// maxAnswer bounds the line read for a yes/no question.
const maxAnswer = 256

// confirmKey shows k, the signer of a bundle opened into a vault with no
// pinned key, and asks the user to confirm it. With tofu it is accepted
// without asking; without a terminal on stdin it is refused.
func confirmKey(e *env, k *sign.PublicKey, tofu bool) error {
	infof(e, "this vault has no pinned instance key; the bundle is signed by:")
	fmt.Fprintf(e.stderr, "\n    %s\n    fingerprint %s\n\n", k, k.Fingerprint())
	if tofu {
		warnf(e, "pinning it without asking (--trust-on-first-use): compare it with what \"sandyq admin status\" shows on the server")
		return nil
	}
	if !e.stdinTerminal {
		return &hintError{errors.New("no instance key is pinned in this vault, and stdin is not a terminal to confirm this one"),
			"pass --instance-key with the key the admin reads out from \"sandyq admin status\" (or --trust-on-first-use to pin the key shown above)"}
	}
	fmt.Fprint(e.stderr, "sandyq-client: compare the whole key with what \"sandyq admin status\" shows on the server (ask the admin).\n"+
		"sandyq-client: is it the same? Pin it in this vault? [y/N] ")
	line, err := readLine(e.stdin, maxAnswer)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		infof(e, "pinned the instance key %s in this vault", k.Fingerprint())
		return nil
	}
	return errors.New("the instance key was not confirmed; nothing was imported")
}

// readLine reads one line of at most max bytes from r, one byte at a time
// so that nothing after it is consumed.
func readLine(r io.Reader, max int) (string, error) {
	var b []byte
	var c [1]byte
	for len(b) <= max {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return string(b), nil
			}
			b = append(b, c[0])
			continue
		}
		if err == io.EOF {
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("the answer is too long")
}

// vaultErr adds a hint to an error opening a vault.
func vaultErr(err error, what string) error {
	switch {
	case errors.Is(err, vault.ErrUnsafeDir):
		return &hintError{fmt.Errorf("the %s vault: %w", what, err),
			"a vault must be a directory of mode 0700 (chmod 700), not a symlink"}
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the %s vault does not exist", what)
	}
	return fmt.Errorf("the %s vault: %w", what, err)
}

// readIdentities reads an age identity file, decrypting it with a
// passphrase first if it is age-encrypted (armored or not), as keygen
// --passphrase writes it.
func readIdentities(e *env, path string) ([]age.Identity, error) {
	data, err := readSmall(path, "-i")
	if err != nil {
		return nil, err
	}
	defer clear(data)
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	armored := bytes.HasPrefix(trimmed, []byte(armor.Header))
	if armored || bytes.HasPrefix(data, []byte("age-encryption.org/")) {
		pass, err := askPassphrase(e, "Enter the passphrase of the identity: ")
		if err != nil {
			return nil, err
		}
		sid, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		var src io.Reader = bytes.NewReader(data)
		if armored {
			src = armor.NewReader(bytes.NewReader(trimmed))
		}
		r, err := age.Decrypt(src, sid)
		if err != nil {
			if errors.Is(err, age.ErrIncorrectIdentity) {
				return nil, errors.New("wrong passphrase for the -i file")
			}
			return nil, errors.New("the -i file is not a readable passphrase-encrypted identity")
		}
		plain, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
		if err != nil || len(plain) > maxKeyFile {
			clear(plain)
			return nil, errors.New("the -i file is damaged or too large")
		}
		clear(data)
		data = plain
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		// age's message could quote part of a key line: do not show it.
		return nil, errors.New("the -i file is not an age identity file")
	}
	return ids, nil
}
