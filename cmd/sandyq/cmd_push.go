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

Uploads a reply bundle, written on the air-gapped laptop by "sandyq-client
reply", to the journalist onion service. The server checks that the bundle is
signed with your access key and stores its replies all or none; each source
reads its reply after logging in with the codename. Pushing the same bundle
twice is harmless.

The bundle is checked here first (signature by this access key, manifest,
every reply's SHA-256), so a damaged USB copy is caught before it is sent.

Flags:
    --access-key FILE  your access key file (the one that signed the bundle)
` + netFlagsHelp + `
Examples:
    sandyq push --server abcd...wxyz.onion --access-key access.key /media/usb/reply.bundle
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
	if fi.Size() > japi.MaxReplyBundle {
		return fmt.Errorf("the bundle is over %d MiB: the server would refuse it", japi.MaxReplyBundle>>20)
	}
	n, err := checkReplyBundle(f, key.Access.Public())
	if err != nil {
		return fmt.Errorf("the reply bundle does not verify: %w", err)
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
	res, err := c.PushReplies(ctx, io.TeeReader(f, bar), fi.Size())
	bar.finish()
	if err != nil {
		return explainAPIError(e, err)
	}
	infof(e, "the server stored %d of %d replies (%d were already there)", res.Stored, n, res.Already)
	return nil
}

// checkReplyBundle reads a reply bundle through, as the server will.
func checkReplyBundle(r io.Reader, signer *sign.PublicKey) (int, error) {
	br, err := bundle.NewReader(r, bundle.Replies, bundle.TrustKeys(signer), &bundle.ReaderOptions{MaxTotalSize: japi.MaxReplyBundle})
	if err != nil {
		return 0, err
	}
	for {
		_, item, err := br.Next()
		if err == io.EOF {
			return len(br.Manifest().Replies), nil
		}
		if err != nil {
			return 0, err
		}
		if _, err := io.Copy(io.Discard, item); err != nil {
			return 0, err
		}
	}
}
