// Package vault keeps the decrypted contents of sandyq bundles on the
// journalist's offline laptop.
//
// # Layout
//
// A vault is a directory of mode 0700. Every file operation inside it goes
// through an [os.Root], so no name, symlink or ".." planted in the vault can
// make it read or write anything outside. It holds one directory (0700) per
// source, named by the source ID in lower-case hex, and the vault's own
// settings in ".sandyq":
//
//	VAULT/
//	  .sandyq/instance.pub              the pinned instance key (0600)
//	  <source-id-hex>/
//	    msg-<seq>.txt                   a message (0600)
//	    <seq>-<safe original name>      a file (0600), name from safename
//	    .meta/<item-id-hex>.json        one metadata record per item (0600)
//	    .meta/source.json               the source's reply recipient (0600)
//	    .meta/reply-<reply-id-hex>.json one record per reply sent (0600)
//
// The metadata record (see [Entry] for its fields) is the index: an item is
// in the vault exactly when its record exists, so importing the same bundle
// again skips the items it already holds. Records live in ".meta", a name
// that no content file can take (safename never starts a name with "."), so
// a source cannot forge a record by uploading a file called "x.json".
// Files with other names (a file a person copied in) are ignored.
//
// # Importing
//
// [Vault.Import] first checks every source's reply recipient in the signed
// manifest (an invalid one refuses the whole bundle before anything is
// written) and records it in the source's "source.json" ([SourceInfo]). It
// then streams every item of the bundle through age and the envelope reader
// into a temporary file (".tmp-<item-id-hex>", created with O_EXCL, mode 0600) in
// the source's directory. The content is linked to its final name only after
// the envelope reader returned io.EOF (trailer and padding verified) and the
// bundle item reader ended cleanly (size and SHA-256 matched the signed
// manifest); then the record is written the same way. On any error the
// temporary file is removed: no partial plaintext stays in the vault. The
// final names are created without ever replacing an existing file (a hard
// link, which fails if the name exists; on file systems without hard links, a
// rename after checking the name is free).
//
// A crash between linking the content and writing its record leaves a
// content file without a record; importing the bundle again imports the item
// again under a new unique name.
//
// Items of 4 MiB or more are read and hashed, decrypted, and written by
// three goroutines joined by a few fixed buffers (see pipe.go), so that the
// two SHA-256 passes (the bundle's and the envelope's) and the decryption
// run on different cores; the write-back of their content to disk is started
// as it is written, so the final fsync is short.
//
// # Reading
//
// Items are named by their ID or a unique prefix of at least [MinPrefix] hex
// digits ([Vault.Entry], [Vault.Show], [Vault.OpenContent]), sources the same
// way ([Vault.Source]). A content file is only read if it is a regular file
// with no other hard link, so a symlink, FIFO, device or a hard link to a
// file outside, planted in the vault, is refused rather than followed.
//
// # Pinning and replies
//
// A Vault is a [bundle.PinStore]: the instance key that signs the bundles
// opened into it is pinned in ".sandyq/instance.pub" and never replaced by
// this package. [Vault.RecordReply] notes a reply that was sent (its ID and
// day, never its text) so that listings can say a source was answered.
package vault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/client/safename"
	"sandyq/client/termsafe"
	"sandyq/crypto/envelope"
)

// Errors returned by this package. Errors never contain file names,
// message content, or paths; item-specific errors name the item ID.
var (
	// ErrUnsafeDir is returned by Open for a vault path that is a symlink,
	// not a directory, or accessible to group or others.
	ErrUnsafeDir = errors.New("vault: unsafe vault directory")

	// ErrNotFound is returned for an item or source that is not in the
	// vault, or an ID that is not hex of the right length.
	ErrNotFound = errors.New("vault: not in the vault")

	// ErrAmbiguous is returned for an ID prefix that matches more than one
	// item or source.
	ErrAmbiguous = errors.New("vault: the ID prefix matches more than one")

	// ErrBadRecipient is returned by Import, before anything is written,
	// for a bundle that gives a source a reply recipient that is not a valid
	// age recipient. The error names the source by its first 8 hex digits.
	ErrBadRecipient = errors.New("vault: invalid reply recipient in the bundle")

	// ErrNotRegular is returned when a file of the vault that is read (an
	// item's content, a record, the pin) is not a regular file: a symlink,
	// directory, FIFO or device planted in the vault; for an item's content
	// also a file with another hard link.
	ErrNotRegular = errors.New("vault: not a regular file")

	// ErrBadRecord is returned for a metadata record that is not what this
	// package writes.
	ErrBadRecord = errors.New("vault: malformed metadata record")

	// ErrTrailingItemData is returned when bytes follow the end of an
	// item's age file inside the bundle item.
	ErrTrailingItemData = errors.New("vault: data after the end of the item's age file")
)

// MinPrefix is the shortest ID prefix, in hex digits, that names an item
// or a source.
const MinPrefix = 8

const (
	metaDir     = ".meta"
	tmpPrefix   = ".tmp-"
	maxRecord   = 64 << 10
	dirPerm     = 0o700
	filePerm    = 0o600
	kindMessage = "message"
	kindFile    = "file"
)

// Vault is an open vault directory.
type Vault struct {
	root *os.Root
}

// Entry is the metadata record of one item in the vault, stored as JSON in
// "<source-id-hex>/.meta/<item-id-hex>.json". Every string that came from a
// source or the server may still be hostile: print it with termsafe.
type Entry struct {
	ItemID   string `json:"item_id"`   // 32 lower-case hex digits
	SourceID string `json:"source_id"` // 64 lower-case hex digits
	Kind     string `json:"kind"`      // "message" or "file"
	Seq      uint64 `json:"seq"`       // per-source sequence number
	Day      uint32 `json:"day"`       // UTC days since 1970-01-01 of its commit
	Name     string `json:"name"`      // content file name in the source directory
	Size     int64  `json:"size"`      // content bytes

	// Files only. OriginalFilename is the name the source sent, escaped
	// with termsafe.Escape; OriginalFilenameBytes is the exact bytes
	// (base64 in the JSON). MediaType is what the source's browser sent.
	OriginalFilename      string `json:"original_filename,omitempty"`
	OriginalFilenameBytes []byte `json:"original_filename_bytes,omitempty"`
	MediaType             string `json:"media_type,omitempty"`
}

// Path returns the entry's content file path relative to the vault root.
func (e *Entry) Path() string { return e.SourceID + "/" + e.Name }

// Date returns Day as a date "YYYY-MM-DD".
func (e *Entry) Date() string {
	return time.Unix(int64(e.Day)*86400, 0).UTC().Format("2006-01-02")
}

// Report says what Import did.
type Report struct {
	Imported []Entry  // items written, in bundle order
	Skipped  []string // IDs (hex) of items already in the vault
	Unopened []string // IDs (hex) of items none of the identities can open

	// NewRecipients lists the sources (ID hex) whose reply recipient was
	// recorded for the first time; ChangedRecipients those whose recorded
	// recipient this bundle replaced with a different one (a server that
	// lies could redirect replies this way: tell the journalist).
	NewRecipients     []string
	ChangedRecipients []string
}

// Open opens the vault at dir, creating it with mode 0700 if it does not
// exist (its parent must). It refuses a dir that is a symlink, not a
// directory, or has any group or other permission bit.
func Open(dir string) (*Vault, error) { return open(dir, true) }

// OpenExisting is Open without creating the vault: a missing dir is an error
// wrapping fs.ErrNotExist.
func OpenExisting(dir string) (*Vault, error) { return open(dir, false) }

func open(dir string, create bool) (*Vault, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.Mkdir(dir, dirPerm); err != nil {
			return nil, ioErr("creating the vault directory", err)
		}
		if err := os.Chmod(dir, dirPerm); err != nil {
			return nil, ioErr("creating the vault directory", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return nil, ioErr("opening the vault directory", err)
	}
	if err := checkDir(fi); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, ioErr("opening the vault directory", err)
	}
	// The directory opened must be the one checked, not a symlink swapped
	// in between.
	rfi, err := root.Stat(".")
	if err != nil || !os.SameFile(fi, rfi) {
		root.Close()
		return nil, fmt.Errorf("%w: it changed while being opened", ErrUnsafeDir)
	}
	return &Vault{root: root}, nil
}

func checkDir(fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: it is a symlink", ErrUnsafeDir)
	case !fi.IsDir():
		return fmt.Errorf("%w: it is not a directory", ErrUnsafeDir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%w: group or others have access (mode %v; want 0700)", ErrUnsafeDir, fi.Mode().Perm())
	}
	return nil
}

// Close closes the vault.
func (v *Vault) Close() error { return v.root.Close() }

// Import decrypts every item of b with identities into the vault, in
// bundle order. Items already in the vault are skipped (their bytes are
// still checked by the bundle reader); items that none of the identities can
// open are listed in the report. Any other error stops the import: the item
// it concerns is not written (the error names its ID), the items before it
// stay. The report is returned also with an error.
//
// Before any item, every source's reply recipient is checked (an invalid one
// refuses the bundle with ErrBadRecipient) and recorded (see [SourceInfo]):
// the value from the bundle with the highest cursor (Manifest.UpTo) wins,
// and a bundle opened again does not undo a newer one.
func (v *Vault) Import(b *bundle.Reader, identities []age.Identity) (*Report, error) {
	rep := &Report{}
	m := b.Manifest()
	if err := v.recordSources(m, rep); err != nil {
		return rep, err
	}
	for {
		e, item, err := b.Next()
		if err == io.EOF {
			return rep, nil
		}
		if err != nil {
			return rep, err
		}
		it := m.Items[e.Index]
		idHex := hex.EncodeToString(it.ID[:])
		srcHex := hex.EncodeToString(it.Source[:])
		if _, err := v.root.Lstat(recordPath(srcHex, idHex)); err == nil {
			rep.Skipped = append(rep.Skipped, idHex)
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return rep, itemErr(idHex, ioErr("checking the vault", err))
		}
		ent, err := v.importItem(&it, item, identities)
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			// Not for these identities, or a damaged age header: only the
			// rest of the item's bytes, checked against the manifest, tell.
			if _, derr := io.Copy(io.Discard, item); derr != nil {
				return rep, itemErr(idHex, derr)
			}
			rep.Unopened = append(rep.Unopened, idHex)
			continue
		}
		if err != nil {
			// If the item's bytes are damaged, say that rather than what
			// age or the envelope made of them.
			var ie *bundle.ItemError
			if _, derr := io.Copy(io.Discard, item); errors.As(derr, &ie) && !errors.As(err, &ie) {
				err = derr
			}
			return rep, itemErr(idHex, err)
		}
		rep.Imported = append(rep.Imported, *ent)
	}
}

func itemErr(idHex string, err error) error {
	var ie *bundle.ItemError
	if errors.As(err, &ie) {
		return err // already names the item
	}
	return fmt.Errorf("item %s: %w", idHex, err)
}

func recordPath(srcHex, idHex string) string {
	return srcHex + "/" + metaDir + "/" + idHex + ".json"
}

// importItem decrypts one item into the vault and returns its record.
func (v *Vault) importItem(it *bundle.Item, item io.Reader, identities []age.Identity) (*Entry, error) {
	var kind envelope.Kind
	var kindName string
	switch it.Kind {
	case bundle.Message:
		kind, kindName = envelope.Message, kindMessage
	case bundle.File:
		kind, kindName = envelope.File, kindFile
	default:
		return nil, fmt.Errorf("unknown item kind %d", it.Kind)
	}
	// For a large item, stages on their own goroutines (see pipe.go):
	// reading the bundle and hashing it, decrypting, and (below) writing.
	// Both readers are closed, and their goroutines gone, before item is
	// used again.
	large := it.Size >= pipeMinSize
	ct := item
	if large {
		ra := newReadAhead(item)
		defer ra.Close()
		ct = ra
	}
	pr, err := age.Decrypt(ct, identities...)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if large {
		ra := newReadAhead(pr)
		defer ra.Close() // runs before the first one's: this one reads it
		pr = ra
	}
	r, err := envelope.NewReader(pr)
	if err != nil {
		return nil, err
	}
	want := envelope.Header{
		ItemID:    it.ID,
		SourceID:  it.Source,
		Kind:      kind,
		Sequence:  it.Seq,
		Filename:  r.Header.Filename,
		MediaType: r.Header.MediaType,
	}
	if err := r.Header.Matches(&want); err != nil {
		return nil, fmt.Errorf("the envelope does not match the signed manifest: %w", err)
	}

	idHex := hex.EncodeToString(it.ID[:])
	srcHex := hex.EncodeToString(it.Source[:])
	if err := v.mkdirs(srcHex); err != nil {
		return nil, err
	}

	tmp := srcHex + "/" + tmpPrefix + idHex
	err = v.writeTemp(tmp, func(f *os.File) error {
		if large {
			w := newAsyncWriter(f, func(off, n int64) { startWriteback(f, off, n) })
			_, err := io.CopyBuffer(w, r, make([]byte, pipeBufSize))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		} else if _, err := io.Copy(f, r); err != nil {
			return err
		}
		// The envelope ended; the bundle item must end exactly there,
		// and only then has its SHA-256 been checked.
		n, err := io.Copy(io.Discard, ct)
		if err != nil {
			return err
		}
		if n != 0 {
			return ErrTrailingItemData
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	ent := &Entry{
		ItemID:   idHex,
		SourceID: srcHex,
		Kind:     kindName,
		Seq:      it.Seq,
		Day:      it.Day,
		Size:     r.ContentLength(),
	}
	var base string
	if kind == envelope.Message {
		base = "msg-" + strconv.FormatUint(it.Seq, 10) + ".txt"
	} else {
		base = safename.Sanitize(strconv.FormatUint(it.Seq, 10) + "-" + safename.Sanitize(r.Header.Filename))
		ent.OriginalFilename = termsafe.Escape(r.Header.Filename)
		ent.OriginalFilenameBytes = []byte(r.Header.Filename)
		ent.MediaType = r.Header.MediaType
	}
	name, err := v.place(tmp, srcHex, base)
	if err != nil {
		v.root.Remove(tmp)
		return nil, err
	}
	ent.Name = name

	if err := v.writeRecord(recordPath(srcHex, idHex), ent, false); err != nil {
		return nil, err
	}
	return ent, nil
}

// mkdir makes the directory name (0700) if it does not exist, and checks
// that it is a real directory otherwise.
func (v *Vault) mkdir(name string) error {
	err := v.root.Mkdir(name, dirPerm)
	if err == nil {
		return ioErr("creating a vault directory", v.root.Chmod(name, dirPerm))
	}
	if !errors.Is(err, fs.ErrExist) {
		return ioErr("creating a vault directory", err)
	}
	fi, err := v.root.Lstat(name)
	if err != nil {
		return ioErr("checking a vault directory", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: a source directory is not a directory", ErrUnsafeDir)
	}
	return nil
}

// writeTemp creates the file tmp (0600, O_EXCL; a stale one from an
// earlier crash is removed first), lets fill write it, syncs and closes it.
// On any error the file is removed.
func (v *Vault) writeTemp(tmp string, fill func(*os.File) error) error {
	if err := v.root.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr("removing a stale temporary file", err)
	}
	f, err := v.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return ioErr("creating a temporary file", err)
	}
	err = f.Chmod(filePerm)
	if err == nil {
		err = fill(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = ioErr("writing a temporary file", cerr)
	}
	if err != nil {
		v.root.Remove(tmp)
		return err
	}
	return nil
}

// place gives tmp its final name in srcHex: base, or a unique variant of
// it. It never replaces an existing file.
func (v *Vault) place(tmp, srcHex, base string) (string, error) {
	sub, err := v.root.OpenRoot(srcHex)
	if err != nil {
		return "", ioErr("opening a source directory", err)
	}
	defer sub.Close()
	exists := safename.InDir(sub.FS())
	for range safename.MaxAttempts {
		name, err := safename.Unique(base, exists)
		if err != nil {
			return "", err
		}
		err = v.link(tmp, srcHex+"/"+name)
		if errors.Is(err, fs.ErrExist) {
			continue // appeared in between: try again
		}
		if err != nil {
			return "", err
		}
		return name, nil
	}
	return "", safename.ErrNoUniqueName
}

// link moves oldname to newname without replacing anything at newname.
func (v *Vault) link(oldname, newname string) error {
	err := v.root.Link(oldname, newname)
	if err == nil {
		return ioErr("removing a temporary file", v.root.Remove(oldname))
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	// No hard links here (FAT, some network file systems): rename after
	// checking the name is free. The source directory is 0700.
	if _, lerr := v.root.Lstat(newname); lerr == nil {
		return fs.ErrExist
	} else if !errors.Is(lerr, fs.ErrNotExist) {
		return ioErr("placing a file", lerr)
	}
	return ioErr("placing a file", v.root.Rename(oldname, newname))
}

// ioErr describes a file system error without the path, which may contain a
// name a source chose.
func ioErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	return fmt.Errorf("%s: %w", op, err)
}

// List returns every item in the vault, sorted by source ID, sequence
// number and item ID.
func (v *Vault) List() ([]Entry, error) {
	srcs, err := readDirNames(v.root, ".")
	if err != nil {
		return nil, ioErr("reading the vault", err)
	}
	var out []Entry
	for _, src := range srcs {
		if !isHex(src, 64) {
			continue
		}
		recs, err := readDirNames(v.root, src+"/"+metaDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, ioErr("reading the vault", err)
		}
		for _, rec := range recs {
			id, ok := strings.CutSuffix(rec, ".json")
			if !ok || !isHex(id, 32) {
				continue
			}
			e, err := v.readRecord(src, id)
			if err != nil {
				return nil, err
			}
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.SourceID != b.SourceID {
			return a.SourceID < b.SourceID
		}
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.ItemID < b.ItemID
	})
	return out, nil
}

func readDirNames(root *os.Root, name string) ([]string, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, nil
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// readRecord reads and checks the record of item id in source src.
func (v *Vault) readRecord(src, id string) (*Entry, error) {
	bad := func(why string) error { return fmt.Errorf("%w: item %s: %s", ErrBadRecord, id, why) }
	var e Entry
	if err := v.readJSON(recordPath(src, id), &e); err != nil {
		if errors.Is(err, ErrBadRecord) {
			return nil, fmt.Errorf("%w: item %s", err, id)
		}
		return nil, err
	}
	if e.ItemID != id || e.SourceID != src {
		return nil, bad("IDs do not match its place")
	}
	if e.Kind != kindMessage && e.Kind != kindFile {
		return nil, bad("unknown kind")
	}
	if e.Name == "" || safename.Sanitize(e.Name) != e.Name {
		return nil, bad("unsafe content file name")
	}
	return &e, nil
}

// normPrefix lower-cases an ID or ID prefix given by a person and checks
// that it is MinPrefix to n hex digits.
func normPrefix(id string, n int, what string) (string, error) {
	p := strings.ToLower(id)
	if len(p) < MinPrefix || len(p) > n || !isHex(p, len(p)) {
		return "", fmt.Errorf("%w: %s ID is %d to %d hex digits", ErrNotFound, what, MinPrefix, n)
	}
	return p, nil
}

// find returns the record of the item with the given ID or unique ID
// prefix (hex, either case, at least MinPrefix digits).
func (v *Vault) find(itemID string) (*Entry, error) {
	p, err := normPrefix(itemID, 32, "an item")
	if err != nil {
		return nil, err
	}
	srcs, err := readDirNames(v.root, ".")
	if err != nil {
		return nil, ioErr("reading the vault", err)
	}
	sort.Strings(srcs)
	var foundSrc, foundID string
	for _, src := range srcs {
		if !isHex(src, 64) {
			continue
		}
		if len(p) == 32 {
			// A full ID: look it up directly.
			if _, err := v.root.Lstat(recordPath(src, p)); err != nil {
				continue
			}
			if foundSrc != "" {
				return nil, fmt.Errorf("%w item: %s", ErrAmbiguous, p)
			}
			foundSrc, foundID = src, p
			continue
		}
		recs, err := readDirNames(v.root, src+"/"+metaDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, ioErr("reading the vault", err)
		}
		for _, rec := range recs {
			id, ok := strings.CutSuffix(rec, ".json")
			if !ok || !isHex(id, 32) || !strings.HasPrefix(id, p) {
				continue
			}
			if foundSrc != "" {
				return nil, fmt.Errorf("%w item: %s", ErrAmbiguous, p)
			}
			foundSrc, foundID = src, id
		}
	}
	if foundSrc == "" {
		return nil, fmt.Errorf("%w: item %s", ErrNotFound, p)
	}
	return v.readRecord(foundSrc, foundID)
}

// Entry returns the record of the item with the given ID or unique ID
// prefix (at least MinPrefix hex digits).
func (v *Vault) Entry(itemID string) (*Entry, error) { return v.find(itemID) }

// OpenContent returns the record and the open content file of the item
// with the given ID or unique prefix. The content must be a regular file
// with no other hard link (ErrNotRegular otherwise). The caller closes it.
func (v *Vault) OpenContent(itemID string) (*Entry, *os.File, error) {
	e, err := v.find(itemID)
	if err != nil {
		return nil, nil, err
	}
	f, err := v.openRegular(e.Path(), "opening an item's content", true)
	if err != nil {
		if errors.Is(err, ErrNotRegular) {
			err = fmt.Errorf("%w: item %s: its content file", ErrNotRegular, e.ItemID)
		}
		return nil, nil, err
	}
	return e, f, nil
}

// openRegular opens name for reading if it is a regular file (with a
// single link if single is true), and checks that the file opened is the
// one checked. Records are not held to a single link: a crash between
// linking a record and removing its temporary name leaves two.
func (v *Vault) openRegular(name, op string, single bool) (*os.File, error) {
	fi, err := v.root.Lstat(name)
	if err != nil {
		return nil, ioErr(op, err)
	}
	if !fi.Mode().IsRegular() || single && extraLinks(fi) {
		return nil, ErrNotRegular
	}
	f, err := v.root.Open(name)
	if err != nil {
		return nil, ioErr(op, err)
	}
	ofi, err := f.Stat()
	if err != nil || !os.SameFile(fi, ofi) {
		f.Close()
		return nil, fmt.Errorf("%w: it changed while being opened", ErrNotRegular)
	}
	return f, nil
}

// Show writes the item with the given ID or unique ID prefix to w for a
// terminal: a few lines of metadata, then, for a message, its text through
// termsafe.EscapeText. A file's content is not shown, only its metadata
// (export it to look at it). Every string is escaped.
func (v *Vault) Show(itemID string, w io.Writer) error {
	e, err := v.find(itemID)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "item:    %s\n", e.ItemID)
	fmt.Fprintf(&b, "source:  %s\n", e.SourceID)
	fmt.Fprintf(&b, "kind:    %s\n", e.Kind)
	fmt.Fprintf(&b, "seq:     %d\n", e.Seq)
	fmt.Fprintf(&b, "date:    %s\n", e.Date())
	fmt.Fprintf(&b, "size:    %d bytes\n", e.Size)
	fmt.Fprintf(&b, "stored:  \"%s\"\n", termsafe.Escape(e.Path()))
	if e.Kind == kindFile {
		fmt.Fprintf(&b, "name:    \"%s\"\n", termsafe.Escape(string(e.OriginalFilenameBytes)))
		fmt.Fprintf(&b, "type:    %s\n", termsafe.Escape(e.MediaType))
		_, err := io.WriteString(w, b.String())
		return err
	}
	_, f, err := v.OpenContent(e.ItemID)
	if err != nil {
		return err
	}
	defer f.Close()
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := termsafe.NewWriter(w, termsafe.Text)
	if _, err := io.Copy(tw, f); err != nil {
		return ioErr("showing the message", err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}
