package main

import (
	"context"
	"fmt"

	"sandyq/client/termsafe"
	"sandyq/client/vault"
)

const listHelp = `usage: sandyq-client list VAULT

List the items in the vault directory VAULT, one line each, by source and
sequence number, with tab-separated columns:

    ITEM-ID  SOURCE  KIND  SEQ  DATE  SIZE  NAME

ITEM-ID is what "show" takes. SOURCE is the first 16 hex digits of the
source ID (its directory in the vault has the full ID). NAME is the
original file name the source sent, escaped and quoted, or "-" for a
message. Every name is escaped: control characters, escape sequences and
bidi overrides are shown as \xNN or \uNNNN, never sent to the terminal.

Examples:
    sandyq-client list vault
    sandyq-client list vault | grep file
`

func runList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("list")
	pos, err := parseFlags(e, fs, listHelp, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(e, "list", "list takes exactly one VAULT")
	}
	v, err := vault.OpenExisting(pos[0])
	if err != nil {
		return vaultErr(err, "VAULT")
	}
	defer v.Close()
	entries, err := v.List()
	if err != nil {
		return err
	}
	for i := range entries {
		fmt.Fprintln(e.stdout, formatEntry(&entries[i]))
	}
	return nil
}

// formatEntry formats an entry as one line of "list", every field escaped.
func formatEntry(ent *vault.Entry) string {
	name := "-"
	if ent.Kind == "file" {
		name = `"` + termsafe.Escape(string(ent.OriginalFilenameBytes)) + `"`
	}
	src := ent.SourceID
	if len(src) > 16 {
		src = src[:16]
	}
	return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%d\t%s",
		termsafe.Escape(ent.ItemID), termsafe.Escape(src), termsafe.Escape(ent.Kind),
		ent.Seq, ent.Date(), ent.Size, name)
}
