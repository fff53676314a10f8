package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"sandyq/client/accesskey"
	"sandyq/client/bundle"
	"sandyq/crypto/sign"
	"sandyq/server/japi"
)

const fetchUsage = `usage: sandyq fetch --server ADDR --access-key FILE -o BUNDLE [--after N]
                    [--socks HOST:PORT] [--torrc FILE] [--tor PATH]

Fetches the submissions that arrived since your last fetch, as one
encrypted bundle, from the journalist onion service. Run it on the online
workstation; carry BUNDLE to the air-gapped laptop and open it there with
"sandyq-client open". Nothing in the bundle can be read without the
newsroom's identities, which never touch this computer.

The bundle is written to a temporary file beside BUNDLE, read back and
checked (signature, manifest, the SHA-256 of every item), and only then
moved into place as BUNDLE; only after that does the server learn that you
hold these items. An interrupted fetch leaves no BUNDLE and is simply
repeated. BUNDLE is never overwritten.

With --socks, that tor must already hold your onion-auth key (tor's
ClientOnionAuthDir, or Tor Browser's onion authentication prompt): the
journalist onion cannot be found without it. By default fetch starts its
own tor and gives it the key from --access-key.

Flags:
    --access-key FILE  your access key file, made by "sandyq-client access-key"
    -o BUNDLE          the bundle file to create
    --after N          fetch everything after cursor N instead of after your
                       last fetch (0: everything the server still holds)
` + netFlagsHelp + `
Exit codes: 0 also when there is nothing new (no file is written);
1 on any error; 2 on a usage error.

Examples:
    sandyq fetch --server abcd...wxyz.onion --access-key access.key -o /media/usb/2026-11-26.bundle
    sandyq fetch --server abcd...wxyz.onion --access-key access.key -o b.bundle --after 0
`

func runFetch(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("fetch")
	var nf netFlags
	nf.register(fs)
	keyFile := fs.String("access-key", "", "access key file")
	out := fs.String("o", "", "bundle file to create")
	afterFlag := fs.String("after", "", "cursor to fetch after")
	if err := parseFlags(e, fs, fetchUsage, args); err != nil {
		return err
	}
	if err := nf.validate(e, "fetch"); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(e, "fetch", "unexpected argument %q", fs.Arg(0))
	case *keyFile == "":
		return usageErr(e, "fetch", "missing --access-key FILE")
	case *out == "":
		return usageErr(e, "fetch", "missing -o BUNDLE")
	}
	var after *uint64
	if *afterFlag != "" {
		n, err := strconv.ParseUint(*afterFlag, 10, 64)
		if err != nil {
			return usageErr(e, "fetch", "--after wants a cursor (a whole number)")
		}
		after = &n
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s already exists: choose another -o (bundles are never overwritten)", *out)
	}
	if fi, err := os.Stat(filepath.Dir(*out)); err != nil || !fi.IsDir() {
		return fmt.Errorf("-o: the folder %s does not exist", filepath.Dir(*out))
	}
	key, err := readAccessKey(e, *keyFile)
	if err != nil {
		return err
	}
	r, err := nf.connect(ctx, e, &onionAuth{key: key.OnionAuthSecret()})
	if err != nil {
		return err
	}
	defer r.Close()
	c := &japi.Client{Base: r.Base, HTTP: r.HTTP, Key: key.Access, Rand: e.rand}

	tmp, err := os.CreateTemp(filepath.Dir(*out), ".sandyq-fetch-*")
	if err != nil {
		return fmt.Errorf("creating the bundle: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // no-op once renamed
	}()
	var bar *progress
	info, err := c.Bundle(ctx, after, tmp, func(total int64) io.Writer {
		bar = newProgress(e, "fetching", total)
		return bar
	})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return explainAPIError(e, err)
	}
	if info.Empty {
		tmp.Close()
		os.Remove(tmp.Name())
		if err := c.Ack(ctx, info.UpTo); err != nil {
			return explainAPIError(e, err)
		}
		infof(e, "nothing new since your last fetch")
		return nil
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	m, err := verifyFetched(tmp)
	if err != nil {
		return fmt.Errorf("the bundle written to disk does not verify (nothing was acknowledged; fetch again): %w", err)
	}
	if m.UpTo != info.UpTo {
		return errors.New("the bundle's cursor does not match the server's answer (nothing was acknowledged)")
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the bundle: %w", err)
	}
	if err := placeNew(tmp.Name(), *out); err != nil {
		return fmt.Errorf("creating %s: %w", *out, err)
	}
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	if err := c.Ack(ctx, m.UpTo); err != nil {
		warnf(e, "the bundle is complete, but the server was not told: the next fetch repeats these items")
		return explainAPIError(e, err)
	}
	infof(e, "fetched %d items from %d sources (%s) into %s", len(m.Items), len(m.Sources), humanBytes(info.Size), *out)
	infof(e, "bundle signed by instance key %s", m.Signer)
	if info.More {
		hintf(e, "more items are waiting: run sandyq fetch again with another -o")
	}
	return nil
}

// verifyFetched reads the bundle back from disk: a damaged write shows
// here, not on the air-gapped laptop. The signer is not judged here (the
// laptop pins it); the signature, manifest and hashes are.
func verifyFetched(f *os.File) (*bundle.Manifest, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	anySigner := func(*sign.PublicKey) error { return nil }
	br, err := bundle.NewReader(f, bundle.Submissions, anySigner, &bundle.ReaderOptions{MaxTotalSize: 1 << 50})
	if err != nil {
		return nil, err
	}
	for {
		_, item, err := br.Next()
		if err == io.EOF {
			return br.Manifest(), nil
		}
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(io.Discard, item); err != nil {
			return nil, err
		}
	}
}

// readAccessKey reads an access key file, warning when others can read it.
func readAccessKey(e *env, path string) (*accesskey.Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the access key: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		warnf(e, "%s is readable by other users (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, accesskey.MaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the access key: %w", err)
	}
	defer clear(b)
	k, err := accesskey.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// explainAPIError adds what to do to the server's refusals.
func explainAPIError(e *env, err error) error {
	var ae *japi.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 401 && ae.Msg == "not authorised":
			hintf(e, "is this journalist registered (sandyq admin journalist list), and is --access-key the right file?")
		case ae.Status == 401:
			hintf(e, "check this computer's clock: it must be within 5 minutes of the server's")
		}
		return err
	}
	return explainNetError(e, err)
}

// placeNew gives the finished file its name without ever replacing a file:
// a hard link, which fails if the name exists; on file systems without hard
// links (FAT and exFAT USB sticks), a rename after checking that the name
// is free.
func placeNew(tmp, dst string) error {
	err := os.Link(tmp, dst)
	if err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(dst); serr == nil {
		return os.ErrExist
	}
	return os.Rename(tmp, dst)
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}
