// Package export copies an item out of the vault into a directory the
// journalist chose, optionally with its metadata scrubbed.
//
// The directory is created with mode 0700 if it does not exist (its parents
// too); an existing directory is used as it is. Every file operation inside
// it goes through an [os.Root], and the new file is created with O_EXCL and
// mode 0600 under a name from [safename.Unique]: an existing file, a
// symlink (dangling or not) or anything else already at that name is never
// followed or overwritten; the next free name ("report (2).pdf") is taken.
//
//	res, err := export.File(dir, "report.pdf", content, &export.Options{Scrub: true})
//	if err != nil {
//		return err // nothing was left in dir
//	}
//	fmt.Println(res.Name, res.Report.String())
//
// With [Options.Scrub], the content goes through [scrub.Scrub]. A format it
// does not support is copied unchanged and the [scrub.Report] says so
// (Scrubbed false): the caller must tell the journalist that the file still
// carries its metadata. On any error, scrubbing or writing, the partial file
// is removed.
package export

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"sandyq/client/safename"
	"sandyq/client/scrub"
)

// Options say how File exports.
type Options struct {
	// Scrub removes metadata with package scrub. The zero value copies the
	// bytes unchanged.
	Scrub bool

	// MediaType and Name are what the item claims to be (the envelope's
	// media type and original file name); Scrub compares them with the
	// content and reports a mismatch as a warning. They are never used to
	// choose the format.
	MediaType, Name string
}

// Result says what File did.
type Result struct {
	// Name is the name of the file created in the directory: safe, never
	// an existing name.
	Name string

	// Report is what the scrubber did, with Options.Scrub; nil otherwise.
	Report *scrub.Report
}

const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// ErrScrub wraps an error of the scrubber: the file could not be parsed as
// the format its content says it is (truncated, malformed, an unsupported
// feature). Nothing was exported.
var ErrScrub = errors.New("export: scrubbing failed")

// File writes the content read from r into dir as a new file named after
// base (made safe and unique), with opts. On error nothing is left in dir
// (but dir itself stays if File created it). Errors never contain base or
// dir.
func File(dir, base string, r io.Reader, opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, ioErr("creating the output directory", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, ioErr("opening the output directory", err)
	}
	defer root.Close()

	name, f, err := create(root, base)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: name}
	if opts.Scrub {
		var rep scrub.Report
		rep, err = scrub.Scrub(r, f, opts.MediaType, opts.Name)
		res.Report = &rep
		if err != nil && !isIOErr(err) {
			err = fmt.Errorf("%w: %w", ErrScrub, err)
		}
	} else {
		_, err = io.Copy(f, r)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		root.Remove(name)
		if errors.Is(err, ErrScrub) {
			return nil, err
		}
		return nil, ioErr("writing the exported file", err)
	}
	return res, nil
}

// create makes a new file (O_EXCL, 0600) with a free name based on base.
func create(root *os.Root, base string) (string, *os.File, error) {
	exists := safename.InDir(root.FS())
	for range safename.MaxAttempts {
		name, err := safename.Unique(base, exists)
		if err != nil {
			return "", nil, fmt.Errorf("export: %w", err)
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue // appeared in between: try again
		}
		if err != nil {
			return "", nil, ioErr("creating the exported file", err)
		}
		if err := f.Chmod(filePerm); err != nil {
			f.Close()
			root.Remove(name)
			return "", nil, ioErr("creating the exported file", err)
		}
		return name, f, nil
	}
	return "", nil, fmt.Errorf("export: %w", safename.ErrNoUniqueName)
}

// isIOErr reports whether a scrubber error came from reading or writing
// rather than from the file's format.
func isIOErr(err error) bool {
	return !errors.Is(err, scrub.ErrTruncated) && !errors.Is(err, scrub.ErrMalformed) &&
		!errors.Is(err, scrub.ErrChecksum) && !errors.Is(err, scrub.ErrUnsupported)
}

// ioErr describes a file system error without the path, which holds a name
// chosen by a source.
func ioErr(op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	return fmt.Errorf("export: %s: %w", op, err)
}
