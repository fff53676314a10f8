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

	"filippo.io/age"
	"filippo.io/age/armor"

	"sandyq/client/bundle"
	"sandyq/client/vault"
	"sandyq/crypto/sign"
)

const openHelp = `usage: sandyq-client open -i IDENTITY -o VAULT --instance-key PUB BUNDLE

Check a submissions bundle and decrypt its items into the vault directory
VAULT. The bundle must be signed by the server's instance key PUB
("sandyq-instance1...", as "sandyq admin status" shows it on the server);
anything else is refused before any item is read. Pinning the key on first
use, so that --instance-key is not needed every time, is not implemented yet.

VAULT is created with mode 0700 if it does not exist; an existing VAULT must
be a directory of mode 0700 (not a symlink). Each source gets a directory
named by its ID; messages are stored as msg-SEQ.txt and files as
SEQ-NAME, where NAME is the original file name made safe. Files are mode
0600. An item is written only once its SHA-256 (signed manifest) and its
envelope (trailer, and its item ID, source, kind and sequence compared with
the manifest) have been checked; on any error nothing of it is kept.
Opening the same bundle again skips the items already in the vault.

IDENTITY is an age identity file ("sandyq-client keygen"): plain, or
encrypted with a passphrase (keygen --passphrase), which is then read from
the terminal without echo, or from $SANDYQ_PASSPHRASE if set.

The items written are listed on stdout as "list" shows them. Items that
IDENTITY cannot decrypt are named in a warning and skipped.

Flags:
    -i IDENTITY          the age identity file (required)
    -o VAULT             the vault directory (required)
    --instance-key PUB   the server's instance public key (required)

Exit codes: 0 every item was imported, skipped as already there, or not
for this identity; 1 an error (items before it stay in the vault).

Examples:
    sandyq-client open -i journalist.age -o vault \
        --instance-key sandyq-instance1... /media/usb/bundle.sqb
`

func runOpen(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("open")
	idPath := fs.String("i", "", "")
	out := fs.String("o", "", "")
	instKey := fs.String("instance-key", "", "")
	pos, err := parseFlags(e, fs, openHelp, args)
	if err != nil {
		return err
	}
	switch {
	case *idPath == "":
		return usageErr(e, "open", "missing -i IDENTITY")
	case *out == "":
		return usageErr(e, "open", "missing -o VAULT")
	case *instKey == "":
		return usageErr(e, "open", "missing --instance-key PUB")
	case len(pos) != 1:
		return usageErr(e, "open", "open takes exactly one BUNDLE")
	}
	key, err := sign.ParsePublicKey(*instKey, sign.Instance)
	if err != nil {
		return fmt.Errorf("--instance-key: %w", err)
	}
	ids, err := readIdentities(e, *idPath)
	if err != nil {
		return err
	}

	f, err := os.Open(pos[0])
	if err != nil {
		return fileErr("opening", "BUNDLE", err)
	}
	defer f.Close()
	br, err := bundle.NewReader(bufio.NewReaderSize(f, 1<<16), bundle.Submissions, bundle.TrustKeys(key), nil)
	if err != nil {
		if errors.Is(err, bundle.ErrUntrustedSigner) {
			return &hintError{err, "the bundle was not signed by the --instance-key given; compare it with \"sandyq admin status\" on the server"}
		}
		return err
	}

	v, err := vault.Open(*out)
	if err != nil {
		return vaultErr(err, "-o")
	}
	defer v.Close()
	rep, err := v.Import(br, ids)
	if rep != nil {
		for _, ent := range rep.Imported {
			fmt.Fprintln(e.stdout, formatEntry(&ent))
		}
		for _, id := range rep.Unopened {
			warnf(e, "item %s: the identity cannot decrypt it; skipped", id)
		}
		infof(e, "%d items imported, %d already in the vault, %d not for this identity",
			len(rep.Imported), len(rep.Skipped), len(rep.Unopened))
	}
	if err != nil {
		return fmt.Errorf("opening the bundle: %w", err)
	}
	return nil
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
