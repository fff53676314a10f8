package main

import (
	"context"
	"fmt"

	"sandyq/client/accesskey"
)

const accessKeyHelp = `usage: sandyq-client access-key -o KEYFILE

Make a journalist's keys for the journalist API: an Ed25519 access key,
which signs requests, and an x25519 onion client authorization key, without
which tor cannot even find the journalist onion service. Both secrets go to
KEYFILE, created with mode 0600 (never overwritten); both public halves are
printed on stdout for the admin ("sandyq admin journalist add").

KEYFILE holds two lines, in this order:

    access: SANDYQ-ACCESS-SECRET-KEY-1...
    onion-auth: <52 characters of base32: the x25519 private key>

The public halves are printed the same way:

    access: sandyq-access1...
    onion-auth: <52 characters of base32: the x25519 public key>

The onion-auth keys use tor's encoding (RFC 4648 base32, upper case, no
padding), as in tor's authorized_clients and ClientOnionAuthDir files.

Flags:
    -o KEYFILE    the secret key file to create (required)

Examples:
    sandyq-client access-key -o access.key > access.pub
`

func runAccessKey(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("access-key")
	out := fs.String("o", "", "")
	pos, err := parseFlags(e, fs, accessKeyHelp, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(e, "access-key", "access-key takes no arguments")
	}
	if *out == "" {
		return usageErr(e, "access-key", "missing -o KEYFILE")
	}
	k, err := accesskey.Generate(e.rand)
	if err != nil {
		return fmt.Errorf("generating the access key: %w", err)
	}
	data := []byte(k.String())
	defer clear(data)
	if err := writeNew(*out, 0o600, data, "-o"); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, k.Public())
	hintf(e, "give both public lines to the admin, for \"sandyq admin journalist add\"")
	return nil
}
