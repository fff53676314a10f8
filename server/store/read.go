package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"slices"

	"go.etcd.io/bbolt"
)

// Item returns the metadata of a committed item, or ErrNotFound.
func (s *Store) Item(id ItemID) (*Item, error) {
	var it *Item
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		it, _, err = getItem(tx, id)
		return err
	})
	return it, err
}

func getItem(tx *bbolt.Tx, id ItemID) (*Item, uint32, error) {
	b, err := bucket(tx, bucketItems)
	if err != nil {
		return nil, 0, err
	}
	v := b.Get(id[:])
	if v == nil {
		return nil, 0, fmt.Errorf("item: %w", ErrNotFound)
	}
	return decodeItem(id[:], v)
}

// OpenItem streams an item's ciphertext. Each chunk is read in its own
// short read transaction and copied out, so a reader never pins the file
// for the length of a download, and memory is one chunk. At EOF the reader
// checks the total size and the SHA-256 against the item record and
// returns ErrCorrupt instead of io.EOF if they differ: callers must treat
// every byte as unverified until they have seen io.EOF. If the item is
// deleted while being read, Read returns ErrNotFound.
func (s *Store) OpenItem(id ItemID) (io.ReadCloser, error) {
	var (
		it     *Item
		chunks uint32
	)
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		it, chunks, err = getItem(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &chunkReader{
		s: s, id: [16]byte(id), chunkBucket: bucketChunks,
		recBucket: bucketItems, recKey: id[:],
		size: it.Size, sum: it.SHA256, chunks: chunks, hash: sha256.New(),
	}, nil
}

// chunkReader reads a run of chunks (of an item or a reply).
type chunkReader struct {
	s           *Store
	id          [16]byte
	chunkBucket []byte
	recBucket   []byte // where the record lives, to tell deletion from damage
	recKey      []byte
	size        int64
	sum         [32]byte
	chunks      uint32

	next uint32
	buf  []byte
	off  int
	read int64
	hash hash.Hash
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.fill()
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// fill loads the next chunk, or verifies the whole at the end.
func (r *chunkReader) fill() error {
	r.buf, r.off = r.buf[:0], 0
	if r.next == r.chunks {
		var sum [32]byte
		r.hash.Sum(sum[:0])
		if r.read != r.size || sum != r.sum {
			return fmt.Errorf("%w: ciphertext does not match its size or SHA-256", ErrCorrupt)
		}
		return io.EOF
	}
	gone := false
	err := r.s.view(func(tx *bbolt.Tx) error {
		c, err := bucket(tx, r.chunkBucket)
		if err != nil {
			return err
		}
		v := c.Get(chunkKey(r.id, r.next))
		if v == nil {
			rb, err := bucket(tx, r.recBucket)
			if err != nil {
				return err
			}
			gone = rb.Get(r.recKey) == nil
			return nil
		}
		r.buf = append(r.buf, v...) // v is only valid inside the transaction
		return nil
	})
	switch {
	case err != nil:
		return err
	case gone:
		return fmt.Errorf("deleted while being read: %w", ErrNotFound)
	case len(r.buf) == 0:
		return fmt.Errorf("%w: chunk %d is missing", ErrCorrupt, r.next)
	}
	r.next++
	r.read += int64(len(r.buf))
	r.hash.Write(r.buf)
	if r.read > r.size {
		return fmt.Errorf("%w: ciphertext is longer than recorded", ErrCorrupt)
	}
	return nil
}

func (r *chunkReader) Close() error {
	r.buf = nil
	if r.err == nil {
		r.err = ErrClosed
	}
	return nil
}

// ListItems returns up to limit committed items with a cursor greater
// than after, in commit order (limit <= 0: all). Cursors only grow and are
// never reused, so a client that remembers the last cursor it saw gets
// exactly the items committed since, minus those deleted meanwhile.
func (s *Store) ListItems(after uint64, limit int) ([]Item, error) {
	var out []Item
	err := s.view(func(tx *bbolt.Tx) error {
		logB, err := bucket(tx, bucketLog)
		if err != nil {
			return err
		}
		c := logB.Cursor()
		for k, v := c.Seek(cursorKey(after + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			cur, id, err := decodeLog(k, v)
			if err != nil {
				return err
			}
			if cur <= after {
				continue // after+1 overflowed
			}
			it, _, err := getItem(tx, id)
			if err != nil {
				return fmt.Errorf("%w: log entry without its item", ErrCorrupt)
			}
			out = append(out, *it)
		}
		return nil
	})
	return out, err
}

// ItemsOf returns the committed items of a source, by sequence number.
// It scans all item records.
func (s *Store) ItemsOf(src SourceID) ([]Item, error) {
	var out []Item
	err := s.view(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketItems)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) < 35 || !bytes.Equal(v[3:35], src[:]) {
				return nil
			}
			it, _, err := decodeItem(k, v)
			if err != nil {
				return err
			}
			out = append(out, *it)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Item) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out, err
}

// DeleteItem removes an item: its record, its chunks and its log entry, in
// one transaction. The freed pages keep their bytes until they are reused
// or the file is compacted (see CompactTo).
func (s *Store) DeleteItem(id ItemID) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	return s.update(func(tx *bbolt.Tx) error { return deleteItem(tx, id) })
}

func deleteItem(tx *bbolt.Tx, id ItemID) error {
	it, _, err := getItem(tx, id)
	if err != nil {
		return err
	}
	logB, err := bucket(tx, bucketLog)
	if err != nil {
		return err
	}
	if err := logB.Delete(cursorKey(it.Cursor)); err != nil {
		return err
	}
	if err := deleteChunks(tx, bucketChunks, id); err != nil {
		return err
	}
	return tx.Bucket(bucketItems).Delete(id[:])
}

// MarkFetched sets the fetched flag of the given items, all or none
// (ErrNotFound if one does not exist).
func (s *Store) MarkFetched(ids ...ItemID) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	return s.update(func(tx *bbolt.Tx) error {
		for _, id := range ids {
			it, chunks, err := getItem(tx, id)
			if err != nil {
				return err
			}
			if it.Fetched {
				continue
			}
			it.Fetched = true
			if err := tx.Bucket(bucketItems).Put(id[:], encodeItem(it, chunks)); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastCursor returns the newest cursor ever assigned (0 before the first
// commit). Items deleted since keep their cursors used: the next commit
// gets a larger one.
func (s *Store) LastCursor() (uint64, error) {
	var last uint64
	err := s.view(func(tx *bbolt.Tx) error {
		logB, err := bucket(tx, bucketLog)
		if err != nil {
			return err
		}
		last = logB.Sequence()
		return nil
	})
	return last, err
}
