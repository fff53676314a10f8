// Package safename turns a hostile file name into one that is safe to create
// in a vault or export directory.
//
// The original name of a submitted file travels inside the encrypted
// envelope and is whatever bytes the source's browser (or an attacker) sent:
// "../../.bashrc", "C:\Windows\x", "CON", a name with a terminal escape
// sequence, a right-to-left override that makes "x\u202Etxt.exe" look like
// "xexe.txt", or a kilobyte of text. [Sanitize] maps any string to a single,
// harmless path element; [Unique] picks a name that does not exist yet.
//
//	name := safename.Sanitize(hdr.Filename)
//	name, err := safename.Unique(name, safename.InDir(os.DirFS(dir)))
//	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
//
// Unique only avoids collisions with what exists now; always create the file
// with O_EXCL (and treat an "exists" error as a reason to try again), so a
// file or symlink that appears in between is never followed or overwritten.
//
// # What Sanitize guarantees
//
// The result is never empty, never "." or "..", and:
//
//   - is valid UTF-8 (each run of invalid bytes becomes "_") in Unicode
//     normalization form C (golang.org/x/text/unicode/norm), so that the
//     same visible name has the same bytes on every system;
//   - has no path separator of any system ("/", "\"), no NUL, no drive or
//     stream colon, none of Windows' forbidden characters < > : " | ? *, and
//     none of the Unicode look-alikes of "/", "\" and ":" that Windows'
//     "best fit" code-page conversion can turn back into them (U+2044,
//     U+2215, U+29F8, U+29F9, U+FF0F, U+FF3C, U+FF1A): each becomes "_";
//   - has no control character (C0, DEL, C1), no format character (bidi
//     overrides, embeddings, isolates and marks, zero-width characters, BOM,
//     tags), no line or paragraph separator, no private-use, unassigned or
//     invisible filler character: each becomes "_", so what is shown is what
//     the name is and a bidi override cannot fake an extension;
//   - has every Unicode space (NBSP, ideographic space, …) as a plain space;
//   - does not start with ".", " " or "-" (hidden files, look-alikes of "..",
//     names a shell tool would read as a flag), and does not end with "." or
//     " " (Windows drops them, which would change the name); these are
//     trimmed;
//   - is not a Windows device name (CON, PRN, AUX, NUL, COM0–COM9,
//     LPT0–LPT9, their superscript-digit forms, CONIN$, CONOUT$, CLOCK$), in
//     any case, with or without extensions: such names get a "_" prefix;
//   - is at most [MaxLen] (255) bytes, cut on a character boundary; an
//     extension of up to [MaxExtLen] bytes is kept when a long name is cut,
//     so that exported files still open in the right program.
//
// A name that has nothing left is replaced by [Fallback]. Sanitize is
// idempotent: Sanitize(Sanitize(x)) == Sanitize(x), and a name that is
// already safe is returned unchanged.
//
// # What it does not do
//
// It keeps a real extension even when that extension is dangerous
// (".exe", ".lnk", ".desktop", ".html"): the name must say what the file
// is. Warn about such files where they are shown or opened. Homoglyphs
// (Cyrillic "о" for Latin "o") are kept. Unique cannot see case-folding by
// itself: pass an exists function that asks the real file system (as
// [InDir] does), which answers for the folded name on case-insensitive
// systems.
package safename
