package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"sandyq/client/export"
	"sandyq/client/termsafe"
	"sandyq/client/vault"
)

const exportHelp = `usage: sandyq-client export [--scrub] VAULT ITEM -o DIR

Copy the item ITEM of the vault directory VAULT into the directory DIR, to
open it, pass it on, or publish it. ITEM is the item's ID as "list" shows
it, or its first 8 or more hex digits if no other item starts with them.

DIR is created with mode 0700 if it does not exist; an existing DIR is
used as it is. The copy is a new file of mode 0600: nothing in DIR is ever
overwritten or followed (an existing file or symlink of the same name makes
the copy "NAME (2).EXT"). A file gets its original name, made safe (no path,
no control characters, no bidi overrides); a message is exported as
msg-SEQ.txt. The path of the new file is printed on stdout.

With --scrub, identifying metadata is removed on the way: EXIF (GPS
position, camera serial number, …), XMP, IPTC, comments, thumbnails and ICC
profiles from JPEG; text, time and other ancillary chunks from PNG;
comments and application data from GIF. What was removed is printed. A
format that cannot be scrubbed (PDF, office documents, video, audio,
archives, …) is copied unchanged with a warning:

    sandyq-client: warning: not scrubbed: PDF is not supported; treat this file as carrying metadata

and the command still succeeds. A file that cannot be parsed as the format
its content says it is (truncated, malformed) is not exported at all, and
the command fails. Scrubbing removes metadata only: the picture itself
(faces, documents, reflections, sensor noise) can identify a source too.
A message is plain text and has no metadata to scrub.

Flags:
    -o DIR     the directory to write to (required)
    --scrub    remove metadata (see above)

Exit codes: 0 the file was exported (read the warnings); 1 an error,
nothing was exported.

Examples:
    sandyq-client export --scrub vault 10a1b2c3 -o /media/usb/for-desk
    sandyq-client export vault 10a1b2c3d4e5f60718293a4b5c6d7e8f -o exports
`

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("export")
	out := fs.String("o", "", "")
	scrub := fs.Bool("scrub", false, "")
	pos, err := parseFlags(e, fs, exportHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 2:
		return usageErr(e, "export", "export takes VAULT and ITEM")
	case *out == "":
		return usageErr(e, "export", "missing -o DIR")
	}
	v, err := vault.OpenExisting(pos[0])
	if err != nil {
		return vaultErr(err, "VAULT")
	}
	defer v.Close()
	ent, f, err := v.OpenContent(pos[1])
	if err != nil {
		return itemErr(err)
	}
	defer f.Close()

	base := string(ent.OriginalFilenameBytes)
	if ent.Kind != "file" {
		base = ent.Name // msg-SEQ.txt
	}
	opts := &export.Options{Scrub: *scrub && ent.Kind == "file", MediaType: ent.MediaType, Name: base}
	res, err := export.File(*out, base, f, opts)
	if err != nil {
		if errors.Is(err, export.ErrScrub) {
			return &hintError{fmt.Errorf("item %s: %w; nothing was exported", ent.ItemID, err),
				"the file is damaged or uses a feature the scrubber does not handle; export it without --scrub only if you can remove its metadata another way"}
		}
		return fmt.Errorf("item %s: %w", ent.ItemID, err)
	}
	if *scrub {
		if ent.Kind != "file" {
			infof(e, "a message is plain text: it has no metadata to scrub")
		} else {
			printScrubReport(e, res)
		}
	}
	fmt.Fprintln(e.stdout, termsafe.Escape(filepath.Join(*out, res.Name)))
	return nil
}

// printScrubReport tells the user what scrubbing did and, above all, what
// it did not do.
func printScrubReport(e *env, res *export.Result) {
	rep := res.Report
	for _, s := range rep.Removed {
		infof(e, "removed: %s", termsafe.Escape(s))
	}
	for _, s := range rep.NotChecked {
		infof(e, "not checked: %s", termsafe.Escape(s))
	}
	for _, s := range rep.Warnings {
		warnf(e, "%s", termsafe.Escape(s))
	}
	format := termsafe.Escape(rep.Format)
	switch {
	case !rep.Scrubbed:
		if format == "unknown" || format == "empty" {
			format = "this format"
		}
		warnf(e, "not scrubbed: %s is not supported; treat this file as carrying metadata", format)
	case len(rep.Removed) == 0:
		infof(e, "scrubbed (%s): no metadata found to remove", format)
	default:
		infof(e, "scrubbed (%s)", format)
	}
}
