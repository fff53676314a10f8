package main

import (
	"context"
	"errors"

	"sandyq/client/vault"
)

const showHelp = `usage: sandyq-client show VAULT ITEM

Show the item ITEM of the vault directory VAULT: its metadata, then, for a
message, its text. A file's content is not shown, only its original name,
media type and size (use "export" to get the file). ITEM is the item's ID
as "list" shows it (32 hex digits), or its first 8 or more digits if no
other item starts with them.

Everything is printed escaped: control characters, terminal escape sequences
(cursor moves, clipboard writes, links), a carriage return not followed by
a line feed, and bidi overrides are shown as \xNN, \r or \uNNNN, never sent
to the terminal; a backslash is shown as \\. Line feeds and tabs in a
message are kept.

Examples:
    sandyq-client show vault 10a1b2c3d4e5f60718293a4b5c6d7e8f
    sandyq-client show vault 10a1b2c3 | less
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
		return itemErr(err)
	}
	return nil
}

// itemErr adds a hint to an error naming an item.
func itemErr(err error) error {
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return &hintError{err, `run "sandyq-client list VAULT" for the item IDs`}
	case errors.Is(err, vault.ErrAmbiguous):
		return &hintError{err, "give more digits of the item ID"}
	case errors.Is(err, vault.ErrNotRegular):
		return &hintError{err, "something other than sandyq-client changed the vault: the file is a link or not a file; check the vault directory"}
	}
	return err
}
