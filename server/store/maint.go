package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"go.etcd.io/bbolt"
)

// Check verifies the whole store and returns every problem found, joined
// (each wraps ErrCorrupt), or nil:
//
//   - bbolt's page-level Tx.Check (reachability, double frees, key order),
//     run inside a write transaction that is rolled back (bbolt's check is
//     not safe next to a concurrent writer otherwise): writes wait for it;
//   - every record decodes; items, log entries and chunks agree; no orphan
//     chunks; no pending upload that is not in progress in this process;
//   - the SHA-256 of every item and reply (reads all ciphertext, in one
//     read transaction).
//
// It is meant for "sandyq admin check" and tests, not for a hot path.
func (s *Store) Check() error {
	var errs []error
	if !s.opts.ReadOnly {
		var pageErrs []error
		err := s.update(func(tx *bbolt.Tx) error {
			pageErrs = pageErrs[:0]
			for err := range tx.Check() {
				pageErrs = append(pageErrs, fmt.Errorf("%w: %v", ErrCorrupt, err))
			}
			return errCheckDone // roll back: Check changes nothing
		})
		if err != nil && !errors.Is(err, errCheckDone) {
			return err
		}
		errs = append(errs, pageErrs...)
	}
	if s.isClosed() {
		return ErrClosed
	}
	// Begin the read transaction and copy the set of uploads in progress
	// under s.mu: a writer joins s.open before its first chunk and leaves
	// it only after its pending record is gone, so every pending record in
	// this snapshot belongs to a writer in the copy.
	s.mu.Lock()
	tx, err := s.db.Begin(false)
	open := make(map[ItemID]bool, len(s.open))
	for id := range s.open {
		open[id] = true
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.opts.ReadOnly {
		// No writer can exist (our shared lock excludes one), so bbolt's
		// check is safe in a read transaction.
		for err := range tx.Check() {
			errs = append(errs, fmt.Errorf("%w: %v", ErrCorrupt, err))
		}
	}
	errs = append(errs, checkRecords(tx, open)...)
	errs = append(errs, checkHashes(tx)...)
	return errors.Join(errs...)
}

var errCheckDone = errors.New("check done")

// checkHashes verifies the size and SHA-256 of every item and reply.
func checkHashes(tx *bbolt.Tx) (errs []error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			errs = append(errs, fmt.Errorf("%w: reading chunks: %v", ErrCorrupt, r))
		}
	}()
	verify := func(what string, chunkB *bbolt.Bucket, id [16]byte, n uint32, size int64, sum [32]byte) {
		h := sha256.New()
		var got int64
		for i := range n {
			v := chunkB.Get(chunkKey(id, i))
			h.Write(v)
			got += int64(len(v))
		}
		if got != size || [32]byte(h.Sum(nil)) != sum {
			errs = append(errs, fmt.Errorf("%w: %s %x: ciphertext does not match its SHA-256", ErrCorrupt, what, id[:4]))
		}
	}
	chunks := tx.Bucket(bucketChunks)
	_ = tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
		if it, n, err := decodeItem(k, v); err == nil {
			verify("item", chunks, it.ID, n, it.Size, it.SHA256)
		}
		return nil
	})
	rchunks := tx.Bucket(bucketReplyChunks)
	_ = tx.Bucket(bucketReplies).ForEach(func(k, v []byte) error {
		if r, err := decodeReply(k, v); err == nil {
			verify("reply", rchunks, [16]byte(k[32:]), r.Chunks, r.Size, r.SHA256)
		}
		return nil
	})
	return errs
}

// Backup writes a consistent copy of the whole file to w while the store
// keeps serving (one read transaction; bbolt Tx.WriteTo). The copy is a
// store file like any other: Open it to restore. It holds whatever the
// live file holds, deleted-but-not-compacted pages included: encrypt it
// (sandyq admin backup does) and compact first if that matters.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// CompactTo writes a compacted copy of the store to a new file at path
// (which must not exist; mode 0600) and syncs it. Only live data is copied:
// freed pages, which still hold the bytes of deleted items, are left behind
// in the old file. Replacing the old file with the copy (and deleting the
// old one) is the caller's job, with the store closed; see docs/format.md.
// Uploads in progress are copied as pending records and removed when the
// copy is opened.
func (s *Store) CompactTo(path string) (err error) {
	if s.isClosed() {
		return ErrClosed
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	dst, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: s.opts.LockTimeout, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: compact: %v", ErrCorrupt, r)
		}
	}()
	if err := bbolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		return fmt.Errorf("compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// Stats are counts and sizes, for "sandyq admin status".
type Stats struct {
	Sources, Items, Pending, Replies int
	RecipientSets, Journalists       int
	ItemBytes                        int64 // ciphertext of committed items
	ReplyBytes                       int64
	FileSize                         int64 // bytes on disk
	FreeBytes                        int64 // in free pages (reused, or dropped by CompactTo)
}

// Stats returns counts and sizes from one read transaction.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.view(func(tx *bbolt.Tx) error {
		st.Sources = tx.Bucket(bucketSources).Stats().KeyN
		st.Pending = tx.Bucket(bucketPending).Stats().KeyN
		st.RecipientSets = tx.Bucket(bucketSets).Stats().KeyN
		st.Journalists = tx.Bucket(bucketJournalists).Stats().KeyN
		err := tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			it, _, err := decodeItem(k, v)
			if err != nil {
				return err
			}
			st.Items++
			st.ItemBytes += it.Size
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketReplies).ForEach(func(k, v []byte) error {
			r, err := decodeReply(k, v)
			if err != nil {
				return err
			}
			st.Replies++
			st.ReplyBytes += r.Size
			return nil
		})
	})
	if err != nil {
		return st, err
	}
	fi, err := os.Stat(s.db.Path())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	if fi != nil {
		st.FileSize = fi.Size()
	}
	bs := s.db.Stats()
	st.FreeBytes = int64(bs.FreePageN+bs.PendingPageN) * int64(s.pageSize)
	return st, nil
}
