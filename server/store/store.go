package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the schema version this package writes. See
// docs/format.md ("Store") and [migrations].
const SchemaVersion = 1

// Defaults for [Options].
const (
	DefaultLockTimeout   = 3 * time.Second
	DefaultChunkSize     = 256 << 10
	DefaultMaxBatchBytes = 8 << 20
)

// Options configure [Open]. The zero value is ready for production.
type Options struct {
	// LockTimeout bounds how long Open waits for the file lock. Zero means
	// DefaultLockTimeout (3s). Opening a file held by another process fails
	// with ErrLocked once it has passed: never a hang.
	LockTimeout time.Duration

	// Rand is the source of item and reply IDs. Nil means crypto/rand.Reader.
	Rand io.Reader

	// Now is the clock. Nil means time.Now. Only the UTC day (days since
	// 1970-01-01) of what it returns is ever stored.
	Now func() time.Time

	// ChunkSize is the size of the ciphertext chunks an ItemWriter buffers
	// and stores (the last chunk of an item may be shorter). Zero means
	// DefaultChunkSize (256 KiB); allowed: 4 KiB to 16 MiB. An upload owns
	// one chunk buffer; chunks in flight are capped by MaxBatchBytes.
	// Changing it between runs is fine: items record their own chunks.
	ChunkSize int

	// MaxBatchBytes bounds the chunk payload that the writer goroutine puts
	// into one transaction (group commit). Zero means DefaultMaxBatchBytes
	// (8 MiB). It also caps the chunks in flight of all uploads together
	// (see ItemWriter). It is raised to ChunkSize if smaller.
	MaxBatchBytes int

	// ReadOnly opens the file with a shared lock and refuses every write.
	// Pending uploads left by a crash are then not removed (they are
	// invisible anyway).
	ReadOnly bool
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.LockTimeout <= 0 {
		r.LockTimeout = DefaultLockTimeout
	}
	if r.Rand == nil {
		r.Rand = rand.Reader
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.ChunkSize == 0 {
		r.ChunkSize = DefaultChunkSize
	}
	if r.ChunkSize < 4<<10 || r.ChunkSize > 16<<20 {
		return r, fmt.Errorf("%w: chunk size %d is outside 4 KiB–16 MiB", ErrInvalid, r.ChunkSize)
	}
	if r.MaxBatchBytes <= 0 {
		r.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if r.MaxBatchBytes < r.ChunkSize {
		r.MaxBatchBytes = r.ChunkSize
	}
	return r, nil
}

// boltOptions are the bbolt settings every store file is opened with.
//
//   - FreelistType map: constant-time allocation of the contiguous runs
//     that chunk values need, where the array freelist degrades with
//     fragmentation.
//   - NoFreelistSync stays false: with it, bbolt rebuilds the freelist at
//     open by walking the file in a goroutine of its own, where a damaged
//     page crashes the process instead of returning an error we can turn
//     into ErrCorrupt.
//   - NoSync and NoGrowSync stay false: an acknowledged item must survive
//     power loss.
//   - InitialMmapSize stays 0: with a large initial map, bbolt grows
//     even a tiny file by AllocSize steps. The map doubles as the file
//     grows; each remap waits for open read transactions (a Backup in
//     progress), which happens O(log size) times.
func boltOptions(o *Options, openFile func(string, int, os.FileMode) (*os.File, error)) *bbolt.Options {
	return &bbolt.Options{
		Timeout:      o.LockTimeout,
		FreelistType: bbolt.FreelistMapType,
		ReadOnly:     o.ReadOnly,
		OpenFile:     openFile,
	}
}

// allocSize is how much bbolt grows the file by at once (each growth is a
// truncate plus fsync).
const allocSize = 64 << 20

// Kind says what an item is. The values are those of the envelope's kind.
type Kind uint8

const (
	KindMessage Kind = 1
	KindFile    Kind = 2
	KindReply   Kind = 3
)

func (k Kind) valid() bool { return k >= KindMessage && k <= KindReply }

// SourceID identifies a source: derived from its codename, never random.
type SourceID [32]byte

// ItemID identifies an item or a reply: 16 random bytes.
type ItemID [16]byte

// String returns the ID in lower-case hex.
func (id ItemID) String() string { return hex.EncodeToString(id[:]) }

// Store is an open store file. Its methods are safe for concurrent use.
type Store struct {
	db       *bbolt.DB
	opts     Options
	pageSize int // bbolt's, read once at open: DB.Info races with a remap

	// reqs, quit and done connect to the writer goroutine (nil reqs when
	// read-only). quit is closed by Close; done is closed by the writer
	// when it has answered every request it took and exited.
	reqs chan *request
	quit chan struct{}
	done chan struct{}

	// tokens bounds the chunks in flight (sent, transaction not ended) of
	// all uploads together to MaxBatchBytes/ChunkSize; free keeps chunk
	// buffers for reuse.
	tokens chan struct{}
	free   chan []byte

	sendMu     sync.RWMutex // guards sendClosed; held (read) while enqueuing
	sendClosed bool

	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex             // guards the fields below
	seqs   map[SourceID]uint64    // next sequence number per source (in memory, see NewItem)
	open   map[ItemID]*ItemWriter // uploads not yet committed or aborted
	closed bool                   // Close was called
	broken error                  // set when a write met on-disk damage
}

// Open opens the store file at path, creating it if it does not exist
// (unless opts.ReadOnly). A new file is initialised under a temporary name
// and linked into place only when complete, so a crash during creation
// never leaves a half-made store at path.
//
// Open fails with ErrLocked if another process holds the file (within
// opts.LockTimeout), ErrPermissions if the file is accessible by group or
// others, ErrVersion if the schema is newer than this program, and
// ErrCorrupt if the file is damaged: empty, truncated, not a bbolt file,
// either meta page invalid, a tree page damaged, a bucket missing or a
// record that does not decode. bbolt panics on some damage; Open recovers
// and returns ErrCorrupt.
//
// A read-write Open then removes every pending (uncommitted) upload left
// by a crash, in one transaction, and starts the writer goroutine.
func Open(path string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !o.ReadOnly:
		if err := create(path, &o); err != nil {
			return nil, err
		}
		if fi, err = os.Lstat(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: store path is not a regular file", ErrInvalid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: mode %04o", ErrPermissions, fi.Mode().Perm())
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	db, err := openBolt(path, &o)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:       db,
		opts:     o,
		pageSize: db.Info().PageSize, // no writer runs yet
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		seqs:     make(map[SourceID]uint64),
		open:     make(map[ItemID]*ItemWriter),
	}
	if err := s.verifyAtOpen(path); err != nil {
		db.Close()
		return nil, err
	}
	if o.ReadOnly {
		close(s.done)
		return s, nil
	}
	if err := s.reconcile(); err != nil {
		db.Close()
		return nil, err
	}
	inflight := max(2, o.MaxBatchBytes/o.ChunkSize)
	s.tokens = make(chan struct{}, inflight)
	s.free = make(chan []byte, inflight)
	s.reqs = make(chan *request, inflight+64)
	go s.writeLoop()
	return s, nil
}

// openBolt opens path with bbolt, turning a lock timeout into ErrLocked and
// damage (errors and panics) into ErrCorrupt.
func openBolt(path string, o *Options) (db *bbolt.DB, err error) {
	var f *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, perm)
		return f, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// The half-open DB cannot be closed; closing its file at
			// least releases the lock.
			if f != nil {
				f.Close()
			}
			db, err = nil, fmt.Errorf("%w: opening: %v", ErrCorrupt, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, boltOptions(o, openFile))
	var pe *fs.PathError
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return nil, ErrLocked
	case errors.As(err, &pe):
		return nil, err
	default:
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	db.AllocSize = allocSize
	return db, nil
}

// create makes a new store at path: a temporary file in the same directory
// gets the schema, is synced, and is hard-linked to path (which fails
// rather than replace a file that appeared meanwhile).
func create(path string, o *Options) error {
	var rnd [8]byte
	if _, err := io.ReadFull(o.Rand, rnd[:]); err != nil {
		return fmt.Errorf("creating store: reading random: %w", err)
	}
	tmp := path + ".new-" + hex.EncodeToString(rnd[:])
	db, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: o.LockTimeout, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("creating store: %w", err)
	}
	defer os.Remove(tmp)
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], SchemaVersion)
		if err := m.Put(metaKeyMagic, []byte(magic)); err != nil {
			return err
		}
		return m.Put(metaKeyVersion, v[:])
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("creating store: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating store: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// reconcile removes every pending upload and its chunks: at Open, nothing
// can be uploading, so each is left over from a crash.
func (s *Store) reconcile() error {
	err := s.safeUpdate(func(tx *bbolt.Tx) error {
		return removeAllPending(tx, nil)
	})
	if err != nil {
		return fmt.Errorf("removing unfinished uploads: %w", err)
	}
	return nil
}

// safeUpdate runs fn in a write transaction outside the writer goroutine
// (only before it starts or after it stopped), recovering bbolt panics.
func (s *Store) safeUpdate(fn func(tx *bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return s.db.Update(fn)
}

// view runs fn in a read transaction, recovering bbolt panics and faults
// on damaged pages as ErrCorrupt.
func (s *Store) view(fn func(tx *bbolt.Tx) error) (err error) {
	if s.isClosed() {
		return ErrClosed
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading: %v", ErrCorrupt, r)
		}
	}()
	err = s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// removeAllPending deletes every pending record and its chunks, except
// those in keep.
func removeAllPending(tx *bbolt.Tx, keep map[ItemID]*ItemWriter) error {
	p, err := bucket(tx, bucketPending)
	if err != nil {
		return err
	}
	var ids []ItemID
	err = p.ForEach(func(k, _ []byte) error {
		var id ItemID
		if len(k) != len(id) {
			return fmt.Errorf("%w: pending key of %d bytes", ErrCorrupt, len(k))
		}
		copy(id[:], k)
		if _, ok := keep[id]; !ok {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := p.Delete(id[:]); err != nil {
			return err
		}
		if err := deleteChunks(tx, bucketChunks, id); err != nil {
			return err
		}
	}
	return nil
}

// deleteChunks deletes every key of bucket name that starts with id. Keys
// are collected first: deleting while iterating a bbolt cursor can skip keys.
func deleteChunks(tx *bbolt.Tx, name []byte, id [16]byte) error {
	b, err := bucket(tx, name)
	if err != nil {
		return err
	}
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(id[:]); k != nil && len(k) >= 16 && [16]byte(k[:16]) == id; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops the writer goroutine (requests it already took are finished
// and answered; later ones get ErrClosed), removes the chunks of uploads
// that were neither committed nor aborted (best effort: Open does it
// anyway), and closes the file. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		open := s.open
		s.open = make(map[ItemID]*ItemWriter)
		s.mu.Unlock()
		for _, w := range open {
			w.markClosed()
		}
		s.sendMu.Lock()
		s.sendClosed = true
		s.sendMu.Unlock()
		close(s.quit)
		<-s.done
		if !s.opts.ReadOnly && s.brokenErr() == nil {
			// Nothing else writes now; a failure here is repaired at Open.
			_ = s.safeUpdate(func(tx *bbolt.Tx) error { return removeAllPending(tx, nil) })
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// today returns the current UTC day, in days since 1970-01-01.
func (s *Store) today() uint32 {
	d := s.opts.Now().UTC().Unix() / 86400
	if d < 0 {
		return 0
	}
	return uint32(d)
}

// newID reads a random ID.
func (s *Store) newID() (ItemID, error) {
	var id ItemID
	if _, err := io.ReadFull(s.opts.Rand, id[:]); err != nil {
		return id, fmt.Errorf("reading random ID: %w", err)
	}
	return id, nil
}
