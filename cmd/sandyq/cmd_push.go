package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"sandyq/client/bundle"
	"sandyq/crypto/sign"
	"sandyq/server/japi"
)

const pushUsage = `usage: sandyq push --server ADDR --access-key FILE BUNDLE
                   [--socks HOST:PORT] [--torrc FILE] [--tor PATH]

Uploads a bundle written on the air-gapped laptop to the journalist onion
service; the bundle's header says which kind it is:

  - a reply bundle ("sandyq-client reply"): the server checks that it is
    signed with your access key and stores its replies all or none; each
    source reads its reply after logging in with the codename;
  - a rewrap bundle ("sandyq-client rewrap"): the server checks that it is
    signed with your access key, that it holds every item, of the source
    named, and that the new recipient set is installed and not expired,
    then swaps the items' ciphertext all at once (all or none). Their
    cursors do not change: fetch them again with "sandyq fetch --after 0".

Pushing the same bundle twice is harmless.

The bundle is checked here first (signature by this access key, manifest,
every item's SHA-256), so a damaged USB copy is caught before it is sent.

Flags:
    --access-key FILE  your access key file (the one that signed the bundle)
` + netFlagsHelp + `
Examples:
    sandyq push --server abcd...wxyz.onion --access-key access.key /media/usb/reply.bundle
    sandyq push --server abcd...wxyz.onion --access-key access.key /media/usb/rewrap.sqb
`

func runPush(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("push")
	var nf netFlags
	nf.register(fs)
	keyFile := fs.String("access-key", "", "access key file")
	if err := parseFlags(e, fs, pushUsage, args); err != nil {
		return err
	}
	if err := nf.validate(e, "push"); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usageErr(e, "push", "give exactly one BUNDLE")
	case *keyFile == "":
		return usageErr(e, "push", "missing --access-key FILE")
	}
	key, err := readAccessKey(e, *keyFile)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("opening the bundle: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := make([]byte, bundle.HeaderSize)
	k, err := io.ReadFull(f, hdr)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fmt.Errorf("reading the bundle: %w", err)
	}
	typ, err := bundle.TypeOf(hdr[:k])
	if err != nil {
		return fmt.Errorf("the bundle: %w", err)
	}
	limit, what := int64(japi.MaxReplyBundle), "reply"
	switch typ {
	case bundle.Replies:
	case bundle.Rewraps:
		limit, what = japi.MaxRewrapBundle, "rewrap"
	default:
		return fmt.Errorf("a %s bundle cannot be pushed: give a reply or rewrap bundle", typ)
	}
	if fi.Size() > limit {
		return fmt.Errorf("the bundle is over %d MiB: the server would refuse it", limit>>20)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := checkBundle(f, typ, key.Access.Public(), limit)
	if err != nil {
		return fmt.Errorf("the %s bundle does not verify: %w", what, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r, err := nf.connect(ctx, e, &onionAuth{key: key.OnionAuthSecret()})
	if err != nil {
		return err
	}
	defer r.Close()
	c := &japi.Client{Base: r.Base, HTTP: r.HTTP, Key: key.Access, Rand: e.rand}
	bar := newProgress(e, "pushing", fi.Size())
	if typ == bundle.Rewraps {
		res, err := c.PushRewrap(ctx, io.TeeReader(f, bar), fi.Size())
		bar.finish()
		if err != nil {
			return explainAPIError(e, err)
		}
		infof(e, "the server replaced the ciphertext of %d of %d items (%d already had it)", res.Replaced, n, res.Already)
		return nil
	}
	res, err := c.PushReplies(ctx, io.TeeReader(f, bar), fi.Size())
	bar.finish()
	if err != nil {
		return explainAPIError(e, err)
	}
	infof(e, "the server stored %d of %d replies (%d were already there)", res.Stored, n, res.Already)
	return nil
}

// checkBundle reads a reply or rewrap bundle through, as the server will,
// and returns its number of items.
func checkBundle(r io.Reader, typ bundle.Type, signer *sign.PublicKey, limit int64) (int, error) {
	br, err := bundle.NewReader(r, typ, bundle.TrustKeys(signer), &bundle.ReaderOptions{MaxTotalSize: limit})
	if err != nil {
		return 0, err
	}
	for {
		_, item, err := br.Next()
		if err == io.EOF {
			return len(br.Manifest().Replies) + len(br.Manifest().Rewraps), nil
		}
		if err != nil {
			return 0, err
		}
		if _, err := io.Copy(io.Discard, item); err != nil {
			return 0, err
		}
	}
}
