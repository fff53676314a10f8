// Package epoch keeps a journalist's age identities, one per epoch, in a
// key directory on the offline laptop, and destroys them when their epoch
// is over.
//
// # Epochs and forward secrecy
//
// The newsroom signs a series of recipient sets with consecutive validity
// windows (epochs); the server encrypts each submission to the set in
// force when it arrives, and records that set's ID with the item. Each
// epoch's set holds a fresh identity of its own. Once an epoch is over and
// its items are imported (or rewrapped to a later set, package
// sandyq/client/rewrap), its identity is destroyed: from then on, the
// ciphertext of that epoch — on the server, in its backups, in free pages
// of its database, on a USB stick — is useless to anyone who later seizes
// the server and the laptop together.
//
// # Layout
//
// A key directory has mode 0700 (group or other access is refused, as is a
// symlink) and holds, for each epoch, by set ID (32 lower-case hex
// digits):
//
//	<set-id>.key   the identity, in age-keygen's format or passphrase-encrypted
//	               (as "sandyq-client keygen" writes it), mode 0600
//	<set-id>.set   the signed recipient set, mode 0600
//
// Other names are ignored. Every file is created with O_EXCL, never
// replaced, and opened through an [os.Root] on the directory. The set file
// stays after the identity is destroyed, so a listing says which epochs
// are gone.
//
// # Destroying
//
// [Dir.Destroy] overwrites the identity file with zeros, syncs it, unlinks
// it and syncs the directory. On flash storage (SSDs, USB sticks, SD
// cards) and on copy-on-write or journaling file systems the old blocks
// may survive the overwrite: what protects them is full-disk encryption
// of the laptop, and destroying (or never having written anywhere else)
// the key of that encryption along with the laptop when it is retired.
package epoch

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

// Errors returned by this package. They never contain a key, a
// passphrase or a path.
var (
	// ErrUnsafeDir is returned for a key directory that is a symlink, not
	// a directory, or accessible by group or others.
	ErrUnsafeDir = errors.New("epoch: unsafe key directory")

	// ErrNotFound is returned for an epoch that is not in the directory,
	// or an ID prefix that names none.
	ErrNotFound = errors.New("epoch: no such epoch in the key directory")

	// ErrAmbiguous is returned for an ID prefix that names several epochs.
	ErrAmbiguous = errors.New("epoch: the ID prefix names several epochs")

	// ErrExists is returned when an epoch's files already exist.
	ErrExists = errors.New("epoch: the epoch is already in the key directory")

	// ErrNotRegular is returned for an epoch file that is not a regular
	// file (a symlink, FIFO, device planted in the directory).
	ErrNotRegular = errors.New("epoch: not a regular file")

	// ErrPassphrase is returned for a wrong passphrase.
	ErrPassphrase = errors.New("epoch: wrong passphrase for the identity")

	// ErrBadIdentity is returned for an identity file that is not one.
	ErrBadIdentity = errors.New("epoch: not an age identity file")
)

// MinPrefix is the shortest set ID prefix, in hex digits, that names an
// epoch.
const MinPrefix = 8

// maxFile bounds what is read of a key or set file.
const maxFile = 1 << 20

const (
	keySuffix = ".key"
	setSuffix = ".set"
	dirPerm   = 0o700
	filePerm  = 0o600
)

// Dir is an open key directory.
type Dir struct {
	root *os.Root
}

// Open opens the existing key directory at path.
func Open(path string) (*Dir, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fileErr("opening the key directory", err)
	}
	return open(path, fi)
}

// Create opens the key directory at path, creating it (mode 0700) if it
// does not exist; its parent must.
func Create(path string) (*Dir, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(path, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fileErr("creating the key directory", err)
		}
		if err := os.Chmod(path, dirPerm); err != nil {
			return nil, fileErr("creating the key directory", err)
		}
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return nil, fileErr("opening the key directory", err)
	}
	return open(path, fi)
}

func open(path string, fi fs.FileInfo) (*Dir, error) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("%w: it is a symlink", ErrUnsafeDir)
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: it is not a directory", ErrUnsafeDir)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("%w: group or others have access (mode %v; want 0700)", ErrUnsafeDir, fi.Mode().Perm())
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fileErr("opening the key directory", err)
	}
	rfi, err := root.Stat(".")
	if err != nil || !os.SameFile(fi, rfi) {
		root.Close()
		return nil, fmt.Errorf("%w: it changed while being opened", ErrUnsafeDir)
	}
	return &Dir{root: root}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.root.Close() }

// Add stores a new epoch: the identity file (as keygen writes it, plain or
// passphrase-encrypted) of the signed set raw, whose ID is id. The identity
// is written and synced first, then the set, then the directory is synced.
// An epoch whose files exist is refused with ErrExists.
func (d *Dir) Add(id [16]byte, raw, identityFile []byte) error {
	name := hex.EncodeToString(id[:])
	for _, suffix := range []string{keySuffix, setSuffix} {
		if _, err := d.root.Lstat(name + suffix); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
	}
	if err := d.writeNew(name+keySuffix, identityFile); err != nil {
		return err
	}
	if err := d.writeNew(name+setSuffix, raw); err != nil {
		return err
	}
	return d.syncDir()
}

// writeNew creates name with data, mode 0600, O_EXCL, synced; on failure
// it removes what it created.
func (d *Dir) writeNew(name string, data []byte) error {
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, strings.TrimSuffix(name, keySuffix))
		}
		return fileErr("writing an epoch file", err)
	}
	err = f.Chmod(filePerm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.root.Remove(name)
		return fileErr("writing an epoch file", err)
	}
	return nil
}

func (d *Dir) syncDir() error {
	f, err := d.root.Open(".")
	if err != nil {
		return fileErr("syncing the key directory", err)
	}
	defer f.Close()
	return fileErr("syncing the key directory", f.Sync())
}

// Epoch is what the key directory holds of one epoch.
type Epoch struct {
	ID string // the set ID, 32 lower-case hex digits

	// Set is the signed set, verified, or nil if its file is missing or
	// does not verify (SetErr says why).
	Set    *recipients.Signed
	SetErr error

	// Identity says whether the identity file is present. Destroyed
	// epochs have a set and no identity.
	Identity bool

	// NotInSet is true when the identity file is a plain one whose
	// recipient is not in the set: the set was not made for it.
	NotInSet bool
}

// State says where t lies in the epoch's window: "past", "current",
// "future", or "unknown" without a set.
func (e *Epoch) State(t time.Time) string {
	switch {
	case e.Set == nil:
		return "unknown"
	case t.Before(e.Set.NotBefore):
		return "future"
	case t.Before(e.Set.NotAfter):
		return "current"
	}
	return "past"
}

// List returns every epoch of the directory, oldest window first (epochs
// without a readable set last, by ID). Each set is verified against
// newsroom, or, if newsroom is nil, against the key its own signer line
// names (which only shows it is intact: pass the newsroom key to know who
// signed it).
func (d *Dir) List(newsroom *sign.PublicKey) ([]Epoch, error) {
	ids, err := d.ids()
	if err != nil {
		return nil, err
	}
	var out []Epoch
	for _, id := range ids {
		e := Epoch{ID: id}
		_, err := d.root.Lstat(id + keySuffix)
		e.Identity = err == nil
		raw, err := d.read(id + setSuffix)
		if err == nil {
			e.Set, err = ParseSet(raw, newsroom)
		}
		if err == nil && e.Set.IDString() != id {
			e.Set, err = nil, errors.New("the set file holds another set")
		}
		e.SetErr = err
		if e.Set != nil && e.Identity {
			e.NotInSet = d.plainNotInSet(id, e.Set)
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Epoch) int {
		switch {
		case a.Set == nil && b.Set == nil:
			return strings.Compare(a.ID, b.ID)
		case a.Set == nil:
			return 1
		case b.Set == nil:
			return -1
		}
		return a.Set.NotBefore.Compare(b.Set.NotBefore)
	})
	return out, nil
}

// plainNotInSet reports whether the epoch's identity file is plain and
// its recipients are not in set. An encrypted file is not checked.
func (d *Dir) plainNotInSet(id string, set *recipients.Signed) bool {
	data, err := d.read(id + keySuffix)
	if err != nil || isEncrypted(data) {
		clear(data)
		return false
	}
	defer clear(data)
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return true
	}
	for _, i := range ids {
		var r string
		switch i := i.(type) {
		case *age.HybridIdentity:
			r = i.Recipient().String()
		case *age.X25519Identity:
			r = i.Recipient().String()
		}
		if slices.Contains(set.Recipients, r) {
			return false
		}
	}
	return true
}

// ids returns the set IDs that have a key or a set file, sorted.
func (d *Dir) ids() ([]string, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, fileErr("reading the key directory", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fileErr("reading the key directory", err)
	}
	seen := map[string]bool{}
	for _, n := range names {
		id, ok := strings.CutSuffix(n, keySuffix)
		if !ok {
			id, ok = strings.CutSuffix(n, setSuffix)
		}
		if ok && isID(id) {
			seen[id] = true
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

func isID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Find returns the full set ID of the epoch named by id: a full ID or a
// prefix of at least MinPrefix hex digits that no other epoch starts with.
func (d *Dir) Find(id string) (string, error) {
	p := strings.ToLower(id)
	if len(p) < MinPrefix || len(p) > 32 || !isID(p+strings.Repeat("0", 32-len(p))) {
		return "", fmt.Errorf("%w: give %d to 32 hex digits of a set ID", ErrNotFound, MinPrefix)
	}
	ids, err := d.ids()
	if err != nil {
		return "", err
	}
	var found []string
	for _, c := range ids {
		if strings.HasPrefix(c, p) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: %s", ErrNotFound, p)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w: %s", ErrAmbiguous, p)
}

// IdentityFile returns the bytes of the epoch's identity file (the caller
// clears them after use), or ErrNotFound if it was destroyed.
func (d *Dir) IdentityFile(id string) ([]byte, error) {
	data, err := d.read(id + keySuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no identity for %s", ErrNotFound, id)
	}
	return data, err
}

// read reads a regular file of the directory, at most maxFile bytes.
func (d *Dir) read(name string) ([]byte, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, name)
	}
	f, err := d.root.Open(name)
	if err != nil {
		return nil, fileErr("reading an epoch file", err)
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		return nil, fmt.Errorf("%w: %s changed while being opened", ErrNotRegular, name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fileErr("reading an epoch file", err)
	}
	if len(data) > maxFile {
		clear(data)
		return nil, fmt.Errorf("epoch: %s is over %d bytes", name, maxFile)
	}
	return data, nil
}

// Destroy removes the identity of epoch id: it overwrites the file with
// zeros, syncs it, unlinks it and syncs the directory. The set file stays.
// See the package documentation for what this cannot do on flash storage.
func (d *Dir) Destroy(id string) error {
	name := id + keySuffix
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: the identity of %s is already gone", ErrNotFound, id)
	}
	if err != nil {
		return fileErr("destroying the identity", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s", ErrNotRegular, name)
	}
	f, err := d.root.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fileErr("destroying the identity", err)
	}
	ofi, err := f.Stat()
	if err != nil || !os.SameFile(fi, ofi) {
		f.Close()
		return fmt.Errorf("%w: %s changed while being opened", ErrNotRegular, name)
	}
	zeros := make([]byte, 4096)
	for left := ofi.Size(); left > 0 && err == nil; {
		n := min(left, int64(len(zeros)))
		_, err = f.Write(zeros[:n])
		left -= n
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fileErr("overwriting the identity", err)
	}
	if err := d.root.Remove(name); err != nil {
		return fileErr("removing the identity", err)
	}
	return d.syncDir()
}

// ParseSet parses a signed recipient set. With newsroom nil, it is checked
// against the key its own signer line names: that shows the statement is
// intact, not who signed it.
func ParseSet(raw []byte, newsroom *sign.PublicKey) (*recipients.Signed, error) {
	if newsroom == nil {
		k, err := signerOf(raw)
		if err != nil {
			return nil, err
		}
		newsroom = k
	}
	return recipients.Parse(raw, newsroom)
}

// signerOf returns the key of a set statement's signer line.
func signerOf(raw []byte) (*sign.PublicKey, error) {
	const prefix = "\nsigner: "
	i := bytes.LastIndex(raw, []byte(prefix))
	if i < 0 {
		return nil, fmt.Errorf("%w: no signer line", recipients.ErrMalformed)
	}
	line := raw[i+len(prefix):]
	n := bytes.IndexByte(line, '\n')
	if n < 0 {
		return nil, fmt.Errorf("%w: no signer line", recipients.ErrMalformed)
	}
	k, err := sign.ParsePublicKey(string(line[:n]), sign.Newsroom)
	if err != nil {
		return nil, fmt.Errorf("%w: the signer line: %v", recipients.ErrMalformed, err)
	}
	return k, nil
}

// isEncrypted reports whether an identity file is age-encrypted (armored
// or not), as keygen --passphrase writes it.
func isEncrypted(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header)) ||
		bytes.HasPrefix(data, []byte("age-encryption.org/"))
}

// Encrypted reports whether an identity file needs a passphrase.
func Encrypted(data []byte) bool { return isEncrypted(data) }

// ParseIdentity parses an identity file: age-keygen's format, or that
// encrypted with a passphrase (age scrypt, armored or not), in which case
// pass is called for the passphrase. It never returns a key's text in an
// error.
func ParseIdentity(data []byte, pass func() (string, error)) ([]age.Identity, error) {
	if isEncrypted(data) {
		p, err := pass()
		if err != nil {
			return nil, err
		}
		sid, err := age.NewScryptIdentity(p)
		if err != nil {
			return nil, fmt.Errorf("epoch: passphrase: %w", err)
		}
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		var src io.Reader = bytes.NewReader(data)
		if bytes.HasPrefix(trimmed, []byte(armor.Header)) {
			src = armor.NewReader(bytes.NewReader(trimmed))
		}
		r, err := age.Decrypt(src, sid)
		if err != nil {
			if errors.Is(err, age.ErrIncorrectIdentity) {
				return nil, ErrPassphrase
			}
			return nil, fmt.Errorf("%w: not a readable passphrase-encrypted identity", ErrBadIdentity)
		}
		plain, err := io.ReadAll(io.LimitReader(r, maxFile+1))
		if err != nil || len(plain) > maxFile {
			clear(plain)
			return nil, fmt.Errorf("%w: damaged or too large", ErrBadIdentity)
		}
		defer clear(plain)
		data = plain
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, ErrBadIdentity
	}
	return ids, nil
}

// fileErr describes a file error without its path.
func fileErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("epoch: %s: %w", op, err)
}
