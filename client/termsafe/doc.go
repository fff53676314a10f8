// Package termsafe prints untrusted text to a terminal without letting it act
// on the terminal or mislead the reader.
//
// Everything that sandyq-client shows comes from a bundle, and a bundle comes
// from a server that may be compromised and from sources who may be attackers.
// A filename or a message can carry escape sequences that move the cursor,
// clear the screen, rewrite the window title, set the clipboard (OSC 52), draw
// a hyperlink whose text differs from its target (OSC 8), or overwrite what was
// already printed with a carriage return. It can also carry Unicode
// bidirectional controls that make "invoice\u202Egpj.exe" look like
// "invoiceexe.jpg". This package turns all of that into visible, inert text.
//
// # Use
//
// Use [Escape] for anything that must stay on one line: file names, source
// labels, codes, error text. Use [EscapeText] for message bodies, where line
// breaks and tabs are kept. For long messages stream through [NewWriter]:
//
//	w := termsafe.NewWriter(os.Stdout, termsafe.Text)
//	if _, err := io.Copy(w, msg); err != nil { … }
//	if err := w.Close(); err != nil { … } // flushes a trailing partial character
//
// # What is kept
//
// Printable text in every script is kept as it is: Latin, Cyrillic and the
// Kazakh letters (ә, ғ, қ, ң, ө, ұ, ү, һ, і), Arabic, CJK, emoji (including
// skin-tone modifiers, variation selectors and zero-width-joiner sequences),
// combining marks, and ordinary spaces (Unicode category Zs). Right-to-left
// scripts are kept; only the invisible controls that reorder text are not.
//
// In [Text] mode a line feed and a tab are kept, and a carriage return that
// directly precedes a line feed is dropped (web forms send CR LF line ends; a
// CR right before LF cannot overwrite anything). Every other CR is escaped.
//
// # What is escaped
//
// Each of these is replaced by a visible escape, never dropped silently:
//
//   - C0 controls U+0000–U+001F (ESC, BEL, BS, CR, …) and DEL U+007F: \xNN,
//     except \n, \t and \r, which are shown as those two-character escapes.
//     In [Line] mode \n and \t are escaped too.
//   - C1 controls U+0080–U+009F, including the 8-bit CSI U+009B: \u009b.
//   - Unicode format characters (category Cf), which covers the bidi
//     embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the
//     marks U+200E, U+200F and U+061C, zero-width space U+200B, word joiner,
//     soft hyphen, BOM U+FEFF and the invisible tag characters
//     U+E0000–U+E007F: \u202e, \U000e0041. The zero-width joiner and
//     non-joiner (U+200D, U+200C) are kept: emoji sequences and several
//     scripts need them and they cannot reorder text.
//   - Line and paragraph separators (U+2028, U+2029), private-use,
//     unassigned and surrogate code points, noncharacters, and the
//     invisible "Hangul filler" letters (U+115F, U+1160, U+3164, U+FFA0).
//   - Bytes that are not valid UTF-8: \xNN with NN ≥ 80.
//   - The backslash itself: \\.
//
// The escapes are unambiguous: a backslash in the output always starts an
// escape; \xNN with NN below 80 is a control character, \xNN with NN of 80 or
// above is a raw byte that was not valid UTF-8, and \uNNNN or \UNNNNNNNN is a
// code point. U+FFFD that was really in the input is kept as the character,
// so it can be told from an invalid byte.
//
// # What is not done
//
// Homoglyphs (a Cyrillic "а" for a Latin "a"), stacks of combining marks and
// very long lines are printed as they are: they can confuse a reader but
// cannot act on the terminal. Callers that show a name next to text they
// control should quote it, so that leading and trailing spaces are visible.
package termsafe
