package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"go.etcd.io/bbolt"
)

// migration returns the function that migrates a store from schema version
// from to from+1, or nil if there is none. Open runs every needed step, in
// order, in one write transaction that also stores the new version: a crash
// leaves the old version or the new one, never a mix. Add a case here (and a
// test with a file of the old version) when the schema changes.
func migration(from uint32) func(tx *bbolt.Tx) error {
	switch from {
	default:
		return nil
	}
}

// readVersion checks the magic and returns the stored schema version.
func readVersion(tx *bbolt.Tx) (uint32, error) {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return 0, fmt.Errorf("%w: not a sandyq store (no meta bucket)", ErrCorrupt)
	}
	if !bytes.Equal(m.Get(metaKeyMagic), []byte(magic)) {
		return 0, fmt.Errorf("%w: not a sandyq store (bad magic)", ErrCorrupt)
	}
	v := m.Get(metaKeyVersion)
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: schema version of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint32(v), nil
}

// verifyAtOpen validates the file: both bbolt meta pages, its size, the
// schema version (migrating if needed), and a structural walk of every
// bucket with every record decoded (see checkRecords). It does not read
// chunk contents nor run bbolt's page-level Tx.Check (see Check).
func (s *Store) verifyAtOpen(path string) error {
	if err := checkMetaPages(path, s.db.Info().PageSize); err != nil {
		return err
	}
	var version uint32
	err := s.view(func(tx *bbolt.Tx) error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%w: file is truncated (%d bytes, needs %d)", ErrCorrupt, fi.Size(), tx.Size())
		}
		version, err = readVersion(tx)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case version > SchemaVersion:
		return fmt.Errorf("%w: file has version %d, this program knows up to %d", ErrVersion, version, SchemaVersion)
	case version < SchemaVersion && s.opts.ReadOnly:
		return fmt.Errorf("%w: file has version %d and needs migrating to %d: open it read-write", ErrVersion, version, SchemaVersion)
	case version < SchemaVersion:
		err := s.safeUpdate(func(tx *bbolt.Tx) error {
			for v := version; v < SchemaVersion; v++ {
				m := migration(v)
				if m == nil {
					return fmt.Errorf("%w: no migration from version %d", ErrVersion, v)
				}
				if err := m(tx); err != nil {
					return fmt.Errorf("migrating from version %d: %w", v, err)
				}
			}
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], SchemaVersion)
			return tx.Bucket(bucketMeta).Put(metaKeyVersion, b[:])
		})
		if err != nil {
			return err
		}
	}
	return s.view(func(tx *bbolt.Tx) error {
		if errs := checkRecords(tx, nil); len(errs) > 0 {
			return errors.Join(errs...)
		}
		return nil
	})
}

// bbolt's meta page layout (go.etcd.io/bbolt internal/common: page header
// of 16 bytes, then magic, version, pageSize, flags uint32; root pgid,
// root sequence, freelist pgid, high-water pgid, txid, checksum uint64),
// in the machine's byte order, checksummed with FNV-1a 64 over the bytes
// before the checksum.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltMetaOffset  = 16
	boltMetaSumFrom = 56
)

// checkMetaPages reads both bbolt meta pages and fails if either is
// invalid. bbolt itself silently falls back to the other meta page, which
// may be the previous transaction: an acknowledged commit would vanish
// without a word. A process crash (kill -9) never leaves an invalid meta
// page (the kernel keeps what was written); damage does.
func checkMetaPages(path string, pageSize int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := range 2 {
		buf := make([]byte, boltMetaOffset+boltMetaSumFrom+8)
		if _, err := f.ReadAt(buf, int64(i*pageSize)); err != nil {
			return fmt.Errorf("%w: reading meta page %d: %v", ErrCorrupt, i, err)
		}
		m := buf[boltMetaOffset:]
		ne := binary.NativeEndian
		switch {
		case ne.Uint32(m[0:]) != boltMagic:
			return fmt.Errorf("%w: meta page %d: bad magic", ErrCorrupt, i)
		case ne.Uint32(m[4:]) != boltVersion:
			return fmt.Errorf("%w: meta page %d: bad version", ErrCorrupt, i)
		case ne.Uint32(m[8:]) != uint32(pageSize):
			return fmt.Errorf("%w: meta page %d: bad page size", ErrCorrupt, i)
		case ne.Uint64(m[boltMetaSumFrom:]) != fnv64a(m[:boltMetaSumFrom]):
			return fmt.Errorf("%w: meta page %d: bad checksum", ErrCorrupt, i)
		}
	}
	return nil
}

func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// checkRecords walks every bucket of tx and returns every problem found
// (each wrapping ErrCorrupt): missing or unknown buckets, keys of the wrong
// shape, records that do not decode, items without their log entry or
// chunks, chunk runs that do not add up, orphan chunks. It reads chunk
// keys and lengths, not their contents. If open is not nil (Check), a
// pending upload is a problem unless open holds it; at Open, pending
// uploads are expected (a crash) and removed right after.
func checkRecords(tx *bbolt.Tx, open map[ItemID]bool) (errs []error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			errs = append(errs, fmt.Errorf("%w: walking the file: %v", ErrCorrupt, r))
		}
	}()
	bad := func(format string, a ...any) {
		if len(errs) < 100 {
			errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, a...)...))
		}
	}
	known := make(map[string]bool)
	for _, name := range allBuckets {
		known[string(name)] = true
		if tx.Bucket(name) == nil {
			bad("bucket %q is missing", name)
		}
	}
	_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if !known[string(name)] {
			bad("unknown bucket %q", name)
		}
		return nil
	})
	if len(errs) > 0 {
		return errs
	}
	if v, err := readVersion(tx); err != nil {
		bad("%v", err)
	} else if v != SchemaVersion {
		bad("schema version %d", v)
	}

	sources := make(map[SourceID]bool)
	_ = tx.Bucket(bucketSources).ForEach(func(k, v []byte) error {
		s, err := decodeSource(k, v)
		if err != nil {
			bad("source: %v", err)
			return nil
		}
		sources[s.ID] = true
		return nil
	})

	type itemState struct {
		size   int64
		chunks uint32
		seen   bool
	}
	items := make(map[ItemID]*itemState)
	cursors := make(map[uint64]ItemID)
	_ = tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
		it, chunks, err := decodeItem(k, v)
		if err != nil {
			bad("item: %v", err)
			return nil
		}
		if !sources[it.Source] {
			bad("item %x belongs to no source", it.ID[:4])
		}
		if _, dup := cursors[it.Cursor]; dup {
			bad("cursor %d used by two items", it.Cursor)
		}
		cursors[it.Cursor] = it.ID
		items[it.ID] = &itemState{size: it.Size, chunks: chunks}
		return nil
	})

	logBucket := tx.Bucket(bucketLog)
	logged := 0
	_ = logBucket.ForEach(func(k, v []byte) error {
		c, id, err := decodeLog(k, v)
		if err != nil {
			bad("log: %v", err)
			return nil
		}
		if c > logBucket.Sequence() {
			bad("log cursor %d is beyond the log sequence %d", c, logBucket.Sequence())
		}
		if cursors[c] != id || items[id] == nil {
			bad("log entry %d does not match an item", c)
			return nil
		}
		logged++
		return nil
	})
	if logged != len(items) {
		bad("%d items but %d matching log entries", len(items), logged)
	}

	pending := make(map[ItemID]*itemState)
	_ = tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
		if _, err := decodePending(k, v); err != nil {
			bad("pending: %v", err)
			return nil
		}
		id := ItemID(k)
		if items[id] != nil {
			bad("item %x is both pending and committed", id[:4])
		}
		if open != nil && !open[id] {
			bad("pending upload %x with no upload in progress", id[:4])
		}
		pending[id] = &itemState{chunks: ^uint32(0)}
		return nil
	})

	// Chunks: keys sort by item ID, then index: walk them as runs.
	var (
		runID   ItemID
		runN    uint32
		runSize int64
		inRun   bool
	)
	endRun := func() {
		if !inRun {
			return
		}
		if st := items[runID]; st != nil {
			st.seen = true
			if runN != st.chunks || runSize != st.size {
				bad("item %x has %d chunks of %d bytes, record says %d chunks of %d bytes", runID[:4], runN, runSize, st.chunks, st.size)
			}
		}
		inRun = false
	}
	_ = tx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
		if len(k) != chunkKeyLen || len(v) == 0 {
			bad("chunk key of %d bytes or empty chunk", len(k))
			return nil
		}
		id := ItemID(k[:16])
		i := binary.BigEndian.Uint32(k[16:])
		if !inRun || id != runID {
			endRun()
			runID, runN, runSize, inRun = id, 0, 0, true
			if items[id] == nil && pending[id] == nil {
				bad("orphan chunks of item %x", id[:4])
			}
		}
		if i != runN {
			bad("item %x: chunk %d where %d was expected", id[:4], i, runN)
		}
		runN = i + 1
		runSize += int64(len(v))
		return nil
	})
	endRun()
	for id, st := range items {
		if !st.seen && st.chunks != 0 {
			bad("item %x has no chunks", id[:4])
		}
		if st.chunks == 0 && st.size != 0 {
			bad("item %x has no chunks but size %d", id[:4], st.size)
		}
	}

	replies := make(map[ItemID]*itemState)
	_ = tx.Bucket(bucketReplies).ForEach(func(k, v []byte) error {
		r, err := decodeReply(k, v)
		if err != nil {
			bad("reply: %v", err)
			return nil
		}
		if !sources[SourceID(k[:32])] {
			bad("reply %x belongs to no source", k[32:36])
		}
		replies[ItemID(k[32:])] = &itemState{size: r.Size, chunks: r.Chunks}
		return nil
	})
	inRun = false
	_ = tx.Bucket(bucketReplyChunks).ForEach(func(k, v []byte) error {
		if len(k) != chunkKeyLen || len(v) == 0 {
			bad("reply chunk key of %d bytes or empty chunk", len(k))
			return nil
		}
		id := ItemID(k[:16])
		i := binary.BigEndian.Uint32(k[16:])
		if !inRun || id != runID {
			if inRun {
				if st := replies[runID]; st != nil {
					st.seen = true
					if runN != st.chunks || runSize != st.size {
						bad("reply %x chunks do not match its record", runID[:4])
					}
				}
			}
			runID, runN, runSize, inRun = id, 0, 0, true
			if replies[id] == nil {
				bad("orphan chunks of reply %x", id[:4])
			}
		}
		if i != runN {
			bad("reply %x: chunk %d where %d was expected", id[:4], i, runN)
		}
		runN = i + 1
		runSize += int64(len(v))
		return nil
	})
	if inRun {
		if st := replies[runID]; st != nil {
			st.seen = true
			if runN != st.chunks || runSize != st.size {
				bad("reply %x chunks do not match its record", runID[:4])
			}
		}
	}
	for id, st := range replies {
		if !st.seen && st.chunks != 0 {
			bad("reply %x has no chunks", id[:4])
		}
	}

	_ = tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
		if _, err := decodeBlob(v); err != nil || len(k) != 16 {
			bad("recipient set record")
		}
		return nil
	})
	for _, name := range [][]byte{bucketJournalists, bucketSettings} {
		_ = tx.Bucket(name).ForEach(func(k, v []byte) error {
			if _, err := decodeBlob(v); err != nil || len(k) == 0 || len(k) > MaxKey {
				bad("%s record", name)
			}
			return nil
		})
	}
	return errs
}
