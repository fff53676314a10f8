package main

import (
	"context"
	"fmt"
	"strings"

	"sandyq/client/termsafe"
	"sandyq/client/vault"
)

const listHelp = `usage: sandyq-client list VAULT

List the sources and items in the vault directory VAULT. Each source has a
summary line starting with "#", followed by its items, one line each, by
sequence number, with tab-separated columns:

    ITEM-ID  SOURCE  KIND  SEQ  DATE  SIZE  NAME

ITEM-ID is what "show" and "export" take (or its first 8 or more digits).
SOURCE is the first 16 hex digits of the source ID (its directory in the
vault has the full ID; "reply" takes 8 or more of its digits). NAME is the
original file name the source sent, escaped and quoted, or "-" for a
message. Every name is escaped: control characters, escape sequences and
bidi overrides are shown as \xNN or \uNNNN, never sent to the terminal.

The summary line of a source says:

  - how many of its items are in the vault;
  - "missing seq ...": sequence numbers (the server numbers each source's
    items 0, 1, 2, ...) below the highest one here that no item in the
    vault has. An item can be missing because it was deleted on the server
    (retention, or by the source), its upload never completed, it is for
    another journalist's identity, it was not fetched yet, or a server that
    lies withheld it. Ask the admin about gaps you do not expect;
  - whether its reply recipient is known ("sandyq-client reply" needs it;
    it comes with the bundles), and how many replies were written to it.

Examples:
    sandyq-client list vault
    sandyq-client list vault | grep -v '^#' | grep file
`

// maxGapRanges bounds how many gap ranges a summary line shows.
const maxGapRanges = 10

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
	sources, err := v.Sources()
	if err != nil {
		return err
	}
	for _, src := range sources {
		fmt.Fprintln(e.stdout, formatSource(&src))
		for i := range entries {
			if entries[i].SourceID == src.ID {
				fmt.Fprintln(e.stdout, formatEntry(&entries[i]))
			}
		}
	}
	return nil
}

// formatSource formats the summary line of a source, every field escaped.
func formatSource(s *vault.SourceInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# source %s: %s", termsafe.Escape(shortID(s.ID)), plural(s.Items, "item", "items"))
	if len(s.Gaps) == 0 {
		b.WriteString("; no missing seq")
	} else {
		b.WriteString("; missing seq ")
		for i, g := range s.Gaps {
			if i == maxGapRanges {
				fmt.Fprintf(&b, " and %d more ranges", len(s.Gaps)-i)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.String())
		}
	}
	if s.ReplyRecipient != "" {
		b.WriteString("; reply recipient known")
	} else {
		b.WriteString("; reply recipient unknown")
	}
	if n := len(s.Replies); n > 0 {
		fmt.Fprintf(&b, "; %s sent, last %s", plural(n, "reply", "replies"), s.Replies[n-1].Date())
	} else {
		b.WriteString("; no reply sent")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// shortID returns the first 16 hex digits of a source ID.
func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// formatEntry formats an entry as one line of "list", every field escaped.
func formatEntry(ent *vault.Entry) string {
	name := "-"
	if ent.Kind == "file" {
		name = `"` + termsafe.Escape(string(ent.OriginalFilenameBytes)) + `"`
	}
	src := shortID(ent.SourceID)
	return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%d\t%s",
		termsafe.Escape(ent.ItemID), termsafe.Escape(src), termsafe.Escape(ent.Kind),
		ent.Seq, ent.Date(), ent.Size, name)
}
