package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sandyq/client/rewrap"
	"sandyq/client/vault"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

const rewrapHelp = `usage: sandyq-client rewrap (-i IDENTITY... | --keys KEYDIR) --vault VAULT --recipients SET
                           --newsroom-key PUB --access-key KEYFILE -o BUNDLE
                           (ITEM... | --set SETID --bundle BUNDLE...)

Re-encrypt items of the vault to another recipient set, offline, into a
rewrap bundle, to carry to the online workstation and upload with "sandyq
push". The server checks that the bundle is signed with your access key,
that every item is one it holds, of the source named, and that SET is
installed there and not expired; then it swaps the items' ciphertext all
at once (all or none). Their cursor, sequence number and day stay; "sandyq
fetch --after 0" fetches them again, in their new form.

Use it before destroying an old epoch's identity ("sandyq-client epoch
destroy") for items that must stay readable on the server: rewrapped to the
current epoch, they no longer depend on the old identity.

The vault keeps plaintext, not the server's ciphertext, so each item is
encrypted again from the vault: an envelope with the very header the item
had (item ID, source, kind, sequence number, original file name and media
type, from the vault's record) and the content file as the vault holds it,
encrypted to every recipient of SET. A content file whose size changed
since it was imported is refused.

Every new ciphertext is decrypted again with the identities given (-i, or
every identity in --keys KEYDIR) and compared with what went in: if none of
them opens it, nothing is written. So hold an identity of SET (the new
epoch's, from "sandyq-client epoch new") before you rewrap to it.

Items are named by ITEM (an ID as "list" shows it, or 8 or more of its
first hex digits), or with --set SETID --bundle BUNDLE...: every item of the
recipient set SETID that the submissions bundles list and the vault holds
(items of the set that the vault lacks are named in a warning).

A rewrap bundle is at most 256 MiB (what the server takes at once): rewrap
more in several bundles. BUNDLE is created with mode 0600, never
overwritten, and removed if anything fails; the ciphertexts wait in a
temporary directory beside it, removed at the end. The items rewrapped are
listed on stdout: ITEM-ID, SOURCE, bytes.

Flags:
    -i IDENTITY            an age identity file to check with (repeatable)
    --keys KEYDIR          check with every identity of the key directory
    --vault VAULT          the vault holding the items (required)
    --recipients SET       the signed recipient set to encrypt to (required)
    --newsroom-key PUB     the newsroom public key (or a file holding it)
                           that must have signed SET (required)
    --access-key KEYFILE   the journalist's access key file (required)
    -o BUNDLE              the rewrap bundle to create (required)
    --set SETID            rewrap the items of this set ...
    --bundle BUNDLE        ... that this submissions bundle lists (repeatable)

Examples:
    sandyq-client rewrap --keys keys --vault vault --recipients set-03.txt \
        --newsroom-key sandyq-newsroom1... --access-key access.key \
        -o /media/usb/rewrap.sqb 0a1b2c3d 4e5f6a7b
    sandyq-client rewrap --keys keys --vault vault --recipients set-03.txt \
        --newsroom-key newsroom.pub --access-key access.key -o rewrap.sqb \
        --set 5e7c0d1e --bundle /media/usb/bundle-01.sqb
`

func runRewrap(ctx context.Context, e *env, args []string) error {
	const name = "rewrap"
	fl := newFlagSet(name)
	var idPaths, bundles []string
	fl.Func("i", "", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		idPaths = append(idPaths, s)
		return nil
	})
	keys := fl.String("keys", "", "")
	vaultDir := fl.String("vault", "", "")
	setPath := fl.String("recipients", "", "")
	newsroom := fl.String("newsroom-key", "", "")
	akPath := fl.String("access-key", "", "")
	out := fl.String("o", "", "")
	ofSet := fl.String("set", "", "")
	fl.Func("bundle", "", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		bundles = append(bundles, s)
		return nil
	})
	items, err := parseFlags(e, fl, rewrapHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(idPaths) == 0 && *keys == "":
		return usageErr(e, name, "missing -i IDENTITY or --keys KEYDIR")
	case *vaultDir == "":
		return usageErr(e, name, "missing --vault VAULT")
	case *setPath == "":
		return usageErr(e, name, "missing --recipients SET")
	case *newsroom == "":
		return usageErr(e, name, "missing --newsroom-key PUB")
	case *akPath == "":
		return usageErr(e, name, "missing --access-key KEYFILE")
	case *out == "":
		return usageErr(e, name, "missing -o BUNDLE")
	case (*ofSet == "") != (len(bundles) == 0):
		return usageErr(e, name, "--set and --bundle go together")
	case *ofSet != "" && len(items) > 0:
		return usageErr(e, name, "give ITEMs or --set with --bundle, not both")
	case *ofSet == "" && len(items) == 0:
		return usageErr(e, name, "no ITEM given")
	}
	if _, err := os.Lstat(*out); err == nil {
		return errors.New("the -o file already exists; refusing to overwrite it")
	}

	set, err := readSet(e, *setPath, *newsroom)
	if err != nil {
		return err
	}
	ak, err := readAccessKeyFile(*akPath)
	if err != nil {
		return err
	}
	ids, err := gatherIdentities(e, idPaths, *keys)
	if err != nil {
		return err
	}
	if *ofSet != "" {
		full, err := setIDArg(*ofSet)
		if err != nil {
			return usageErr(e, name, "--set: %v", err)
		}
		all, missing, err := epochItems(*vaultDir, bundles, full)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			warnf(e, "%d of the %d items of set %s in the bundles are not in the vault (%s): they cannot be rewrapped from here",
				len(missing), len(all), full, listIDs(missing))
		}
		skip := map[string]bool{}
		for _, m := range missing {
			skip[m] = true
		}
		for _, it := range all {
			if !skip[it] {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			return fmt.Errorf("no item of set %s in the bundles is in the vault", full)
		}
	}

	v, err := vault.OpenExisting(*vaultDir)
	if err != nil {
		return vaultErr(err, "--vault")
	}
	defer v.Close()
	b, err := rewrap.New(v, set, ids, filepath.Dir(*out))
	if err != nil {
		return err
	}
	defer b.Close()
	for _, it := range items {
		if err := b.Add(it); err != nil {
			switch {
			case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrAmbiguous):
				return &hintError{err, `run "sandyq-client list VAULT" for the items; give 8 or more digits of one`}
			case errors.Is(err, rewrap.ErrNotOpenable):
				return &hintError{err, "give an identity of the new set (-i, or --keys with its epoch): a rewrap must stay readable"}
			case errors.Is(err, rewrap.ErrTooLarge):
				return &hintError{err, "rewrap fewer items at a time"}
			}
			return err
		}
	}
	if err := writeRewrapBundle(*out, b, ak.Access); err != nil {
		return err
	}
	for _, r := range b.Items() {
		fmt.Fprintf(e.stdout, "%s\t%s\t%d\n", hex.EncodeToString(r.ID[:]), shortID(hex.EncodeToString(r.Source[:])), r.Size)
	}
	infof(e, "rewrapped %s to set %s into the -o bundle", plural(b.Len(), "item", "items"), set.IDString())
	hintf(e, "carry the bundle to the online workstation and run \"sandyq push\"")
	return nil
}

// readSet reads a signed recipient set and checks it against the
// newsroom key. An expired set is refused (the server would refuse it).
func readSet(e *env, path, newsroomKey string) (*recipients.Signed, error) {
	set, err := readSignedSet(path, newsroomKey)
	if err != nil {
		return nil, err
	}
	switch err := set.CheckTime(e.now()); {
	case errors.Is(err, recipients.ErrExpired):
		return nil, fmt.Errorf("the --recipients set %s expired at %s: the server would refuse it", set.IDString(), set.NotAfter.Format(time.RFC3339))
	case err != nil:
		infof(e, "the --recipients set %s is valid from %s: the server accepts it once installed", set.IDString(), set.NotBefore.Format(time.RFC3339))
	}
	return set, nil
}

// setIDArg checks a full set ID (32 hex digits) and returns it in lower
// case.
func setIDArg(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return "", errors.New("want the full set ID, 32 hex digits")
	}
	return hex.EncodeToString(b), nil
}

// writeRewrapBundle writes the bundle to path: created with O_EXCL and
// mode 0600, synced, and removed on any error.
func writeRewrapBundle(path string, b *rewrap.Builder, key *sign.PrivateKey) error {
	return writeBundleFile(path, func(w io.Writer) error {
		_, err := b.WriteBundle(w, key)
		return err
	}, rewrap.ErrTooLarge)
}
