// Package rewrap re-encrypts items of a vault to another recipient set,
// offline, and writes them as a rewrap bundle for the server to swap in.
//
// # Why
//
// Every item on the server is encrypted to the recipient set that was in
// force when it arrived (an epoch). Once an epoch's items are processed,
// the newsroom destroys that epoch's identities, so that a later seizure
// of the server and the laptops together reveals nothing of it. Items
// that must stay on the server past that point (for a colleague who has
// not fetched them yet, say) are first rewrapped: encrypted again to a
// newer set, and swapped in on the server, all or none.
//
// # How
//
// The vault keeps plaintext, not the ciphertext the server has, so an item
// is rewrapped from its plaintext: a new envelope (package
// sandyq/crypto/envelope) with the very header the original had — item
// ID, source ID, kind, sequence number, original file name and media type,
// all kept in the vault's record — and the content file as it is in the
// vault, encrypted with age to every recipient of the new set. Every
// client that opens the item later checks that header against the
// manifest, as for any item.
//
//	b, err := rewrap.New(v, set, identities, tmpDir)
//	err = b.Add("0a1b2c3d")               // an item ID or unique prefix
//	_, err = b.WriteBundle(f, accessKey)  // the rewrap bundle
//	b.Close()                             // removes the temporary ciphertexts
//
// The new ciphertexts wait in temporary files (mode 0600, in a 0700
// directory the caller names) until all are made, because the bundle's
// manifest, which comes first, lists their sizes and SHA-256. They hold
// ciphertext only.
//
// Before a bundle is written, every new ciphertext is opened again with the
// identities given (the journalist's identity for the new set): if none
// opens it, or it does not give back the header and content that went in,
// nothing is written. A rewrap therefore never replaces an item on the
// server with ciphertext that this newsroom cannot read.
//
// A content file that changed in the vault since it was imported (another
// size) is refused. The vault records no hash of the content, so a change
// that keeps the size is not noticed: the rewrapped item carries whatever
// the vault holds.
package rewrap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/client/vault"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

// MaxBundleSize is the largest rewrap bundle the server accepts at
// POST /v1/rewrap (server/japi.MaxRewrapBundle): 256 MiB.
const MaxBundleSize = 256 << 20

// maxManifest bounds what the manifest may take of MaxBundleSize: the
// fixed header and about 210 bytes per item.
func maxManifest(items int) int64 { return bundle.HeaderSize + 128 + 256*int64(items) }

// Errors returned by this package. They name items by their ID, never by
// content or file name.
var (
	// ErrTooLarge is returned when the new ciphertexts do not fit one
	// rewrap bundle (MaxBundleSize).
	ErrTooLarge = errors.New("rewrap: the items do not fit one rewrap bundle")

	// ErrChanged is returned for an item whose content file in the vault
	// does not have the size its record says.
	ErrChanged = errors.New("rewrap: the item's content file changed since it was imported")

	// ErrNotOpenable is returned when none of the identities given opens
	// a new ciphertext, or it does not give back what went in.
	ErrNotOpenable = errors.New("rewrap: the identities given cannot open the rewrapped item")

	// ErrDuplicate is returned when an item is added twice.
	ErrDuplicate = errors.New("rewrap: the item is already in the bundle")
)

// Builder makes one rewrap bundle. It is not safe for concurrent use.
type Builder struct {
	v          *vault.Vault
	set        *recipients.Signed
	rcpts      []age.Recipient
	identities []age.Identity
	dir        string // the temporary directory, removed by Close
	items      []*sealed
	total      int64
}

// sealed is one new ciphertext waiting in a temporary file.
type sealed struct {
	entry bundle.Rewrap
	path  string
}

// New starts a rewrap bundle of items of v to the verified set. Each new
// ciphertext is checked with identities (see the package documentation);
// at least one is required. The temporary ciphertexts go into a new
// directory inside tmpDir (mode 0700), which Close removes; tmpDir should
// be on the disk the bundle is written to.
func New(v *vault.Vault, set *recipients.Signed, identities []age.Identity, tmpDir string) (*Builder, error) {
	if v == nil || set == nil {
		return nil, errors.New("rewrap: no vault or no recipient set")
	}
	if len(identities) == 0 {
		return nil, errors.New("rewrap: no identity to check the new ciphertexts with")
	}
	rcpts, err := set.AgeRecipients()
	if err != nil {
		return nil, fmt.Errorf("rewrap: the recipient set: %w", err)
	}
	dir, err := os.MkdirTemp(tmpDir, ".sandyq-rewrap-")
	if err != nil {
		return nil, fmt.Errorf("rewrap: making a temporary directory: %w", pathless(err))
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("rewrap: making a temporary directory: %w", pathless(err))
	}
	return &Builder{v: v, set: set, rcpts: rcpts, identities: identities, dir: dir}, nil
}

// Header returns the envelope header of a vault item, from its record: the
// header the item had on the server.
func Header(e *vault.Entry) (*envelope.Header, error) {
	h := &envelope.Header{}
	if err := decodeID(h.ItemID[:], e.ItemID); err != nil {
		return nil, fmt.Errorf("rewrap: the item's record: %w", err)
	}
	if err := decodeID(h.SourceID[:], e.SourceID); err != nil {
		return nil, fmt.Errorf("rewrap: item %s: the record's source: %w", e.ItemID, err)
	}
	h.Sequence = e.Seq
	switch e.Kind {
	case "message":
		h.Kind = envelope.Message
		if len(e.OriginalFilenameBytes) != 0 || e.MediaType != "" {
			return nil, fmt.Errorf("rewrap: item %s: a message record with a file name", e.ItemID)
		}
	case "file":
		h.Kind = envelope.File
		h.Filename, h.MediaType = string(e.OriginalFilenameBytes), e.MediaType
	default:
		return nil, fmt.Errorf("rewrap: item %s: unknown kind in its record", e.ItemID)
	}
	return h, nil
}

func decodeID(dst []byte, s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) || hex.EncodeToString(b) != s {
		return errors.New("malformed ID")
	}
	copy(dst, b)
	return nil
}

// Add re-encrypts the item with the given ID (or unique ID prefix) of the
// vault to the set, and checks the result with the identities.
func (b *Builder) Add(itemID string) error {
	e, content, err := b.v.OpenContent(itemID)
	if err != nil {
		return err
	}
	defer content.Close()
	h, err := Header(e)
	if err != nil {
		return err
	}
	for _, s := range b.items {
		if s.entry.ID == h.ItemID {
			return fmt.Errorf("%w: item %s", ErrDuplicate, e.ItemID)
		}
	}
	f, err := os.CreateTemp(b.dir, "item-")
	if err != nil {
		return fmt.Errorf("rewrap: item %s: %w", e.ItemID, pathless(err))
	}
	s := &sealed{path: f.Name()}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(s.path)
		}
	}()
	ch := sha256.New()
	out := &counter{w: f, h: sha256.New()}
	w, err := envelope.Seal(out, h, b.rcpts...)
	if err != nil {
		return fmt.Errorf("rewrap: item %s: %w", e.ItemID, err)
	}
	n, err := io.Copy(io.MultiWriter(w, ch), content)
	if err != nil {
		return fmt.Errorf("rewrap: item %s: %w", e.ItemID, pathless(err))
	}
	if n != e.Size {
		return fmt.Errorf("%w: item %s", ErrChanged, e.ItemID)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("rewrap: item %s: %w", e.ItemID, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rewrap: item %s: %w", e.ItemID, pathless(err))
	}
	if out.n > MaxBundleSize-maxManifest(len(b.items)+1)-b.total {
		return fmt.Errorf("%w (%d MiB at most): make several bundles", ErrTooLarge, MaxBundleSize>>20)
	}
	if err := b.check(s.path, h, [32]byte(ch.Sum(nil)), n); err != nil {
		return err
	}
	s.entry = bundle.Rewrap{ID: h.ItemID, Source: h.SourceID, SetID: b.set.ID, Size: out.n, SHA256: [32]byte(out.h.Sum(nil))}
	b.items = append(b.items, s)
	b.total += out.n
	keep = true
	return nil
}

// check opens the new ciphertext at path with the identities and compares
// its header and content with what went in.
func (b *Builder) check(path string, h *envelope.Header, sum [32]byte, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("rewrap: reading the new ciphertext back: %w", pathless(err))
	}
	defer f.Close()
	id := hex.EncodeToString(h.ItemID[:])
	r, err := envelope.Open(f, b.identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) || errors.Is(err, age.ErrIncorrectIdentity) {
			return fmt.Errorf("%w: item %s: none of them is a recipient of set %s", ErrNotOpenable, id, b.set.IDString())
		}
		return fmt.Errorf("%w: item %s: %v", ErrNotOpenable, id, err)
	}
	if err := r.Header.Matches(h); err != nil {
		return fmt.Errorf("%w: item %s: %v", ErrNotOpenable, id, err)
	}
	ch := sha256.New()
	n, err := io.Copy(ch, r)
	if err != nil || n != size || [32]byte(ch.Sum(nil)) != sum {
		return fmt.Errorf("%w: item %s: the content read back differs", ErrNotOpenable, id)
	}
	return nil
}

// Len returns the number of items added.
func (b *Builder) Len() int { return len(b.items) }

// Items returns the manifest entries of the items added, sorted by ID.
func (b *Builder) Items() []bundle.Rewrap {
	out := make([]bundle.Rewrap, len(b.items))
	for i, s := range b.sorted() {
		out[i] = s.entry
	}
	return out
}

func (b *Builder) sorted() []*sealed {
	s := slices.Clone(b.items)
	slices.SortFunc(s, func(x, y *sealed) int { return bytes.Compare(x.entry.ID[:], y.entry.ID[:]) })
	return s
}

// WriteBundle writes the rewrap bundle of every item added to w, signed with
// the journalist's access key. It returns the bundle's size.
func (b *Builder) WriteBundle(w io.Writer, key *sign.PrivateKey) (int64, error) {
	if len(b.items) == 0 {
		return 0, errors.New("rewrap: no item to rewrap")
	}
	items := b.sorted()
	m := &bundle.Manifest{Type: bundle.Rewraps}
	for _, s := range items {
		m.Rewraps = append(m.Rewraps, s.entry)
	}
	cw := &counter{w: w}
	bw, err := bundle.NewWriter(cw, m, key)
	if err != nil {
		return cw.n, err
	}
	for _, s := range items {
		f, err := os.Open(s.path)
		if err != nil {
			return cw.n, fmt.Errorf("rewrap: %w", pathless(err))
		}
		err = bw.WriteItem(f)
		f.Close()
		if err != nil {
			return cw.n, err
		}
	}
	if err := bw.Close(); err != nil {
		return cw.n, err
	}
	if cw.n > MaxBundleSize {
		return cw.n, fmt.Errorf("%w (%d MiB at most): make several bundles", ErrTooLarge, MaxBundleSize>>20)
	}
	return cw.n, nil
}

// Close removes the temporary ciphertexts and their directory.
func (b *Builder) Close() error {
	b.items = nil
	if b.dir == "" {
		return nil
	}
	err := os.RemoveAll(b.dir)
	b.dir = ""
	return err
}

// counter counts and (if h is set) hashes what is written through it.
type counter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	return n, err
}

// pathless drops the path from a file error: paths are whatever the user
// typed and may name a source.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}
