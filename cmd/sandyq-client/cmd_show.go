package main

import (
	"context"
	"errors"

	"sandyq/client/vault"
)

const showHelp = `usage: sandyq-client show VAULT ITEM

Show the item ITEM (its 32-hex-digit ID, as "list" shows it) of the vault
directory VAULT: its metadata, then, for a message, its text. A file's
content is not shown, only its original name, media type and size.

Everything is printed escaped: control characters, terminal escape sequences
(cursor moves, clipboard writes, links), a carriage return not followed by
a line feed, and bidi overrides are shown as \xNN, \r or \uNNNN, never sent
to the terminal; a backslash is shown as \\. Line feeds and tabs in a
message are kept.

Examples:
    sandyq-client show vault 10a1b2c3d4e5f60718293a4b5c6d7e8f
    sandyq-client show vault 10a1b2c3d4e5f60718293a4b5c6d7e8f | less
`

func runShow(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("show")
	pos, err := parseFlags(e, fs, showHelp, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr(e, "show", "show takes VAULT and ITEM")
	}
	v, err := vault.OpenExisting(pos[0])
	if err != nil {
		return vaultErr(err, "VAULT")
	}
	defer v.Close()
	if err := v.Show(pos[1], e.stdout); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return &hintError{err, `run "sandyq-client list VAULT" for the item IDs`}
		}
		return err
	}
	return nil
}
