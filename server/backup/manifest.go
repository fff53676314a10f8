package backup

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"sandyq/server/datadir"
)

// Format constants; see docs/format.md ("Backups").
const (
	// manifestMagic is the first line of a manifest.
	manifestMagic = "sandyq-backup v1"

	// ManifestName is the name of the last archive entry.
	ManifestName = "manifest"

	// MaxServices caps the onion services in one backup.
	MaxServices = 64

	// maxManifest caps the manifest entry; maxKeyFile caps newsroom.pub and
	// instance.key (datadir reads at most 1024 bytes of them).
	maxManifest = 64 << 10
	maxKeyFile  = 1024

	// Onion key files as tor writes them: a 32-byte tagged header, then
	// the key (the expanded 64-byte secret key, the 32-byte public key).
	onionSecretFile   = "hs_ed25519_secret_key"
	onionPublicFile   = "hs_ed25519_public_key"
	onionHostnameFile = "hostname"
	onionSecretHeader = "== ed25519v1-secret: type0 ==\x00\x00\x00"
	onionPublicHeader = "== ed25519v1-public: type0 ==\x00\x00\x00"
	onionSecretSize   = 32 + 64
	onionPublicSize   = 32 + ed25519.PublicKeySize
	onionAddrLen      = 56 + 6 // base32 of 35 bytes, ".onion"
	onionServicesDir  = datadir.OnionDir + "/services/"
)

// Kinds of archive entries, in the order they appear in an archive.
const (
	kindPepper = iota
	kindNewsroom
	kindInstance
	kindOnion
	kindStore
	kindManifest
)

// onionFiles are the files of one onion service, in archive order.
var onionFiles = []string{onionSecretFile, onionPublicFile, onionHostnameFile}

// slot is what an archive entry name means.
type slot struct {
	kind    int
	service string // kindOnion: the service name
	file    int    // kindOnion: index in onionFiles
}

// parseName returns the slot of an archive entry name, or false for any
// name outside the fixed set. The grammar admits no "..", no absolute path,
// no empty element and no character outside a–z, 0–9, '-', '_', '.' and '/'.
func parseName(name string) (slot, bool) {
	switch name {
	case datadir.PepperFile:
		return slot{kind: kindPepper}, true
	case datadir.NewsroomKeyFile:
		return slot{kind: kindNewsroom}, true
	case datadir.InstanceKeyFile:
		return slot{kind: kindInstance}, true
	case datadir.StoreFile:
		return slot{kind: kindStore}, true
	case ManifestName:
		return slot{kind: kindManifest}, true
	}
	rest, ok := strings.CutPrefix(name, onionServicesDir)
	if !ok {
		return slot{}, false
	}
	service, file, ok := strings.Cut(rest, "/")
	if !ok || !validService(service) {
		return slot{}, false
	}
	for i, f := range onionFiles {
		if file == f {
			return slot{kind: kindOnion, service: service, file: i}, true
		}
	}
	return slot{}, false
}

// less orders slots as they appear in an archive.
func (s slot) less(t slot) bool {
	if s.kind != t.kind {
		return s.kind < t.kind
	}
	if s.service != t.service {
		return s.service < t.service
	}
	return s.file < t.file
}

// sizeOK reports whether size is allowed for an entry in slot s. The store
// has no cap here; Restore checks it against the free disk space.
func (s slot) sizeOK(size int64) bool {
	switch s.kind {
	case kindPepper:
		return size == datadir.PepperSize
	case kindNewsroom, kindInstance:
		return size > 0 && size <= maxKeyFile
	case kindOnion:
		switch onionFiles[s.file] {
		case onionSecretFile:
			return size == onionSecretSize
		case onionPublicFile:
			return size == onionPublicSize
		default:
			return size == onionAddrLen+1
		}
	case kindStore:
		return size > 0
	case kindManifest:
		return size > 0 && size <= maxManifest
	}
	return false
}

// validService is onion's rule for service names: 1–32 of a–z, 0–9, '-'.
func validService(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// onionPath returns the archive name (and the path relative to the data
// directory) of a file of an onion service.
func onionPath(service, file string) string {
	return onionServicesDir + service + "/" + file
}

// fileEntry is one line "file:" of a manifest.
type fileEntry struct {
	Name   string
	Size   int64
	SHA256 [32]byte
}

// Onion is an onion service in a backup.
type Onion struct {
	Name string // the service name, the directory in DIR/onion/services
	Addr string // its address, "….onion"
}

// manifest is the parsed last entry of an archive.
type manifest struct {
	Day        time.Time // UTC midnight
	Instance   string    // instance public key
	Sources    int
	Items      int
	Replies    int
	LastCursor uint64
	Onions     []Onion     // by name
	Files      []fileEntry // in archive order, the manifest excluded
}

// marshal returns the manifest's canonical text.
func (m *manifest) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", manifestMagic)
	fmt.Fprintf(&b, "day: %s\n", m.Day.Format(time.DateOnly))
	fmt.Fprintf(&b, "instance: %s\n", m.Instance)
	fmt.Fprintf(&b, "sources: %d\n", m.Sources)
	fmt.Fprintf(&b, "items: %d\n", m.Items)
	fmt.Fprintf(&b, "replies: %d\n", m.Replies)
	fmt.Fprintf(&b, "cursor: %d\n", m.LastCursor)
	for _, o := range m.Onions {
		fmt.Fprintf(&b, "onion: %s %s\n", o.Name, o.Addr)
	}
	for _, f := range m.Files {
		fmt.Fprintf(&b, "file: %x %d %s\n", f.SHA256, f.Size, f.Name)
	}
	return b.Bytes()
}

// parseManifest parses a manifest strictly: the lines of marshal's output,
// in its order, printable ASCII, each ending in "\n", numbers in canonical
// decimal, onion services sorted by name, files in archive order and each
// at most once. parseManifest(m.marshal()) == m, and nothing else parses.
func parseManifest(data []byte) (*manifest, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	for _, c := range data {
		if (c < 0x20 || c > 0x7e) && c != '\n' {
			return nil, bad("a byte that is not printable ASCII")
		}
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, bad("does not end with a newline")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	next := 0
	field := func(key string) (string, error) {
		if next >= len(lines) {
			return "", bad("missing line %q", key)
		}
		v, ok := strings.CutPrefix(lines[next], key+": ")
		if !ok {
			return "", bad("line %d: want %q", next+1, key)
		}
		next++
		return v, nil
	}
	number := func(key string) (uint64, error) {
		v, err := field(key)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return 0, bad("line %d: %s is not a number", next, key)
		}
		return n, nil
	}
	if lines[0] != manifestMagic {
		return nil, bad("first line is not %q", manifestMagic)
	}
	next = 1
	m := new(manifest)
	v, err := field("day")
	if err != nil {
		return nil, err
	}
	if m.Day, err = time.Parse(time.DateOnly, v); err != nil || m.Day.Format(time.DateOnly) != v {
		return nil, bad("line %d: day is not YYYY-MM-DD", next)
	}
	if m.Instance, err = field("instance"); err != nil {
		return nil, err
	}
	counts := []struct {
		key string
		n   *int
	}{{"sources", &m.Sources}, {"items", &m.Items}, {"replies", &m.Replies}}
	for _, c := range counts {
		n, err := number(c.key)
		if err != nil {
			return nil, err
		}
		if n > 1<<40 {
			return nil, bad("line %d: %s is out of range", next, c.key)
		}
		*c.n = int(n)
	}
	if m.LastCursor, err = number("cursor"); err != nil {
		return nil, err
	}
	for next < len(lines) && strings.HasPrefix(lines[next], "onion: ") {
		v, _ := field("onion")
		name, addr, ok := strings.Cut(v, " ")
		if !ok || !validService(name) || len(addr) != onionAddrLen || !strings.HasSuffix(addr, ".onion") {
			return nil, bad("line %d: malformed onion line", next)
		}
		if n := len(m.Onions); n > 0 && m.Onions[n-1].Name >= name {
			return nil, bad("line %d: onion services out of order or repeated", next)
		}
		if len(m.Onions) == MaxServices {
			return nil, bad("more than %d onion services", MaxServices)
		}
		m.Onions = append(m.Onions, Onion{Name: name, Addr: addr})
	}
	for next < len(lines) {
		v, err := field("file")
		if err != nil {
			return nil, err
		}
		parts := strings.Split(v, " ")
		if len(parts) != 3 || len(parts[0]) != 64 || strings.ToLower(parts[0]) != parts[0] {
			return nil, bad("line %d: malformed file line", next)
		}
		var f fileEntry
		if _, err := hex.Decode(f.SHA256[:], []byte(parts[0])); err != nil {
			return nil, bad("line %d: malformed SHA-256", next)
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || size < 0 || strconv.FormatInt(size, 10) != parts[1] {
			return nil, bad("line %d: malformed size", next)
		}
		f.Name, f.Size = parts[2], size
		s, ok := parseName(f.Name)
		if !ok || s.kind == kindManifest {
			return nil, bad("line %d: unknown file %q", next, shortName(f.Name))
		}
		if !s.sizeOK(size) {
			return nil, bad("line %d: size of %q is out of range", next, f.Name)
		}
		if n := len(m.Files); n > 0 {
			prev, _ := parseName(m.Files[n-1].Name)
			if !prev.less(s) {
				return nil, bad("line %d: files out of order or repeated", next)
			}
		}
		m.Files = append(m.Files, f)
	}
	return m, nil
}

// shortName quotes-ready cuts an entry name from an archive (hostile input)
// for an error message.
func shortName(name string) string {
	if len(name) > 80 {
		return name[:80] + "…"
	}
	return name
}
