package scrub

import "strings"

// Report says what [Scrub] found, removed and could not check. Its strings
// are fixed English phrases and names of format structures (such as four
// ASCII letters of a PNG chunk type); they never contain text taken from the
// file's metadata, so they are safe to print and to log.
type Report struct {
	// Format is the format detected from the content: "JPEG", "PNG", "GIF",
	// the name of a recognised but unsupported format ("PDF", "WebP", …),
	// "empty" or "unknown".
	Format string

	// Scrubbed is true when the format is supported and every metadata
	// structure the scrubber knows of was removed.
	Scrubbed bool

	// Removed lists what was taken out, one kind per entry, for example
	// "EXIF (GPS position, camera serial number)" or "PNG text (tEXt)".
	Removed []string

	// NotChecked lists what the scrubber could not remove or check; show it
	// to the user before the file is used.
	NotChecked []string

	// Warnings lists mismatches between the content and what the file
	// claims to be (declared media type, file name extension).
	Warnings []string
}

// String returns the report as lines of text.
func (r *Report) String() string {
	var b strings.Builder
	b.WriteString("format: " + r.Format)
	if r.Scrubbed {
		b.WriteString(" (scrubbed)")
	} else {
		b.WriteString(" (not scrubbed)")
	}
	b.WriteByte('\n')
	for _, s := range r.Removed {
		b.WriteString("removed: " + s + "\n")
	}
	for _, s := range r.NotChecked {
		b.WriteString("not checked: " + s + "\n")
	}
	for _, s := range r.Warnings {
		b.WriteString("warning: " + s + "\n")
	}
	return b.String()
}

func (r *Report) removed(s string) {
	for _, x := range r.Removed {
		if x == s {
			return
		}
	}
	r.Removed = append(r.Removed, s)
}
