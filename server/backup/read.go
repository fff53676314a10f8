package backup

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"

	"filippo.io/age"

	"sandyq/server/datadir"
)

// ageMagic is how every binary age file starts.
const ageMagic = "age-encryption.org/v1\n"

// maxEntries caps the entries of an archive: the fixed files, three per
// onion service, the store and the manifest.
const maxEntries = 5 + 3*MaxServices

// Info says what a backup holds (from [Inspect] and [Write]) or what was
// restored (from [Restore]).
type Info struct {
	// Day is the UTC day the backup was made (midnight UTC).
	Day time.Time

	// InstanceKey is the instance public key ("sandyq-instance1…"): the key
	// journalists' clients pinned. The backup holds its secret half, so a
	// backup whose InstanceKey is the one the journalists pinned was made
	// by someone who had the instance secret key.
	InstanceKey string

	// NewsroomKey is the pinned newsroom public key, "" if none was pinned.
	NewsroomKey string

	// Onions are the onion services whose keys the backup holds, by name,
	// with the address each key gives.
	Onions []Onion

	// Counts in the store: as the manifest states them (Inspect, Write),
	// or as the restored store holds them (Restore, which checks that they
	// agree).
	Sources, Items, Replies int

	// LastCursor is the newest cursor assigned in the store: the backup
	// holds the items committed up to it (minus those deleted by then).
	LastCursor uint64

	// StoreSize is the size of the store snapshot in bytes.
	StoreSize int64

	// Dir is the absolute path of the restored data directory (Restore
	// only).
	Dir string
}

// storeSink consumes the store entry: exactly size bytes from r.
type storeSink func(size int64, r io.Reader) error

// archive is a backup archive that was read and checked.
type archive struct {
	m     *manifest
	k     *keys
	small map[string][]byte // every entry but the store and the manifest
}

// info returns the Info the manifest and the keys give.
func (a *archive) info() *Info {
	var storeSize int64
	for _, f := range a.m.Files {
		if f.Name == datadir.StoreFile {
			storeSize = f.Size
		}
	}
	return &Info{
		Day:         a.m.Day,
		InstanceKey: a.k.instance,
		NewsroomKey: a.k.newsroom,
		Onions:      a.k.onions,
		Sources:     a.m.Sources,
		Items:       a.m.Items,
		Replies:     a.m.Replies,
		LastCursor:  a.m.LastCursor,
		StoreSize:   storeSize,
	}
}

// trackReader remembers the first error other than io.EOF of the reader
// it wraps (the age payload), so that a failure under the tar reader can be
// told apart: age's (damage) from tar's (malformed archive).
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// readArchive decrypts r and reads the archive strictly to its end (and
// the age file to its end, which authenticates its last chunk), giving the
// store entry to sink. It returns only when every entry matched the
// manifest and the keys checked out; on error, what sink consumed must be
// discarded.
func readArchive(r io.Reader, identities []age.Identity, sink storeSink) (*archive, error) {
	if len(identities) == 0 {
		return nil, fmt.Errorf("%w: no identity given", ErrIdentity)
	}
	br := bufio.NewReader(r)
	if head, _ := br.Peek(len(ageMagic)); string(head) != ageMagic {
		return nil, ErrNotBackup
	}
	dr, err := age.Decrypt(br, identities...)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, fmt.Errorf("%w: %w", ErrIdentity, err)
	} else if err != nil {
		return nil, fmt.Errorf("%w: reading the age header: %v", ErrDamaged, err)
	}
	tracked := &trackReader{r: dr}
	a, err := readEntries(tar.NewReader(tracked), sink)
	if err == nil {
		// Nothing may follow the archive, and reading to the end makes age
		// check the final chunk: a file cut right after the archive fails.
		var b [1]byte
		switch n, rerr := io.ReadFull(tracked, b[:]); {
		case n == 0 && rerr == io.EOF:
		case n > 0:
			err = fmt.Errorf("%w: data after the end of the archive", ErrMalformed)
		default:
			err = rerr
		}
	}
	if tracked.err != nil {
		return nil, fmt.Errorf("%w: decrypting: %v", ErrDamaged, tracked.err)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// readEntries reads the entries of the archive, checking names, types,
// order and sizes before reading any entry's bytes, and compares them with
// the manifest at the end.
func readEntries(tr *tar.Reader, sink storeSink) (*archive, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	a := &archive{small: make(map[string][]byte)}
	var seen []fileEntry
	var prev *slot
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, bad("reading the archive: %v", err)
		}
		if n == maxEntries {
			return nil, bad("more than %d entries", maxEntries)
		}
		if a.m != nil {
			return nil, bad("entry %q after the manifest", shortName(hdr.Name))
		}
		if err := checkHeader(hdr); err != nil {
			return nil, err
		}
		s, _ := parseName(hdr.Name)
		if prev != nil && !prev.less(s) {
			return nil, bad("entry %q is out of order or repeated", hdr.Name)
		}
		prev = &s
		h := sha256.New()
		body := io.TeeReader(tr, h)
		switch s.kind {
		case kindStore:
			if err := sink(hdr.Size, body); err != nil {
				return nil, err
			}
		case kindManifest:
			data, err := readSmall(body, hdr.Size)
			if err != nil {
				return nil, err
			}
			if a.m, err = parseManifest(data); err != nil {
				return nil, err
			}
			continue
		default:
			if a.small[hdr.Name], err = readSmall(body, hdr.Size); err != nil {
				return nil, err
			}
		}
		seen = append(seen, fileEntry{Name: hdr.Name, Size: hdr.Size, SHA256: sumOf(h)})
	}
	if a.m == nil {
		return nil, bad("the manifest is missing (the archive ends early)")
	}
	if err := matchManifest(a.m.Files, seen); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(seen, func(f fileEntry) bool { return f.Name == datadir.StoreFile }) {
		return nil, bad("the store is missing")
	}
	k, err := checkKeys(a.small)
	if err != nil {
		return nil, err
	}
	if k.instance != a.m.Instance {
		return nil, bad("the manifest names another instance key than %s holds", datadir.InstanceKeyFile)
	}
	if !slices.Equal(k.onions, a.m.Onions) {
		return nil, bad("the manifest's onion addresses are not those of the onion keys")
	}
	a.k = k
	return a, nil
}

// checkHeader refuses every tar entry but a regular file with a known name,
// no link target, no extended attributes, and a size within its cap.
func checkHeader(hdr *tar.Header) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: entry %q %s", ErrMalformed, shortName(hdr.Name), fmt.Sprintf(format, a...))
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink:
		return bad("is a symbolic link")
	case tar.TypeLink:
		return bad("is a hard link")
	case tar.TypeDir:
		return bad("is a directory")
	default:
		return bad("is not a regular file (type %q)", hdr.Typeflag)
	}
	if hdr.Linkname != "" {
		return bad("has a link target")
	}
	for key := range hdr.PAXRecords {
		if key != "size" {
			return bad("has an extended header record")
		}
	}
	s, ok := parseName(hdr.Name)
	if !ok {
		return fmt.Errorf("%w: unknown entry %q", ErrMalformed, shortName(hdr.Name))
	}
	if !s.sizeOK(hdr.Size) {
		return bad("has a size out of range (%d bytes)", hdr.Size)
	}
	return nil
}

// copyEntry copies exactly size bytes of an archive entry from r to w
// through buf, telling a short or failed read (the archive's fault) from a
// failed write (the destination's).
func copyEntry(w io.Writer, r io.Reader, size int64, buf []byte) error {
	for size > 0 {
		n, err := r.Read(buf[:min(int64(len(buf)), size)])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("backup: writing the store: %w", werr)
			}
			size -= int64(n)
		}
		switch {
		case (err == io.EOF || err == io.ErrUnexpectedEOF) && size > 0:
			return fmt.Errorf("%w: the store entry ends early", ErrMalformed)
		case err != nil && err != io.EOF:
			return fmt.Errorf("%w: reading the archive: %v", ErrMalformed, err)
		}
	}
	return nil
}

// readSmall reads an entry whose size was checked against its cap.
func readSmall(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: reading the archive: %v", ErrMalformed, err)
	}
	return b, nil
}

// matchManifest compares the files the manifest lists with the entries
// read: the same names in the same order, sizes and SHA-256.
func matchManifest(listed, seen []fileEntry) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	for i := range max(len(listed), len(seen)) {
		switch {
		case i >= len(seen):
			return bad("the manifest lists %q, which the archive does not hold", listed[i].Name)
		case i >= len(listed):
			return bad("the archive holds %q, which the manifest does not list", seen[i].Name)
		case listed[i].Name != seen[i].Name:
			if !slices.ContainsFunc(seen, func(f fileEntry) bool { return f.Name == listed[i].Name }) {
				return bad("the manifest lists %q, which the archive does not hold", listed[i].Name)
			}
			return bad("the archive holds %q, which the manifest does not list", seen[i].Name)
		case listed[i].Size != seen[i].Size:
			return bad("%q has %d bytes, the manifest says %d", seen[i].Name, seen[i].Size, listed[i].Size)
		case subtle.ConstantTimeCompare(listed[i].SHA256[:], seen[i].SHA256[:]) != 1:
			return bad("the SHA-256 of %q does not match the manifest", seen[i].Name)
		}
	}
	return nil
}

func sumOf(h hash.Hash) (sum [32]byte) {
	h.Sum(sum[:0])
	return sum
}
