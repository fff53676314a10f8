package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// Source is what the store keeps about a source: its ID (derived from the
// codename, which is never stored), the age recipient that replies are
// encrypted to, the day it was created, and the next sequence number.
type Source struct {
	ID             SourceID
	ReplyRecipient string
	Day            uint32
	NextSeq        uint64
}

// CreateSource records a new source. It fails with ErrExists if the ID is
// taken (the same codename logging in as new).
func (s *Store) CreateSource(id SourceID, replyRecipient string) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if replyRecipient == "" || len(replyRecipient) > MaxReplyRecipient {
		return fmt.Errorf("%w: reply recipient of %d bytes", ErrInvalid, len(replyRecipient))
	}
	rec := encodeSource(&Source{ReplyRecipient: replyRecipient, Day: s.today()})
	err := s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSources)
		if err != nil {
			return err
		}
		if b.Get(id[:]) != nil {
			return fmt.Errorf("source: %w", ErrExists)
		}
		return b.Put(id[:], rec)
	})
	if err == nil {
		s.mu.Lock()
		delete(s.seqs, id)
		s.mu.Unlock()
	}
	return err
}

// Source returns a source, or ErrNotFound.
func (s *Store) Source(id SourceID) (*Source, error) {
	var src *Source
	err := s.view(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSources)
		if err != nil {
			return err
		}
		v := b.Get(id[:])
		if v == nil {
			return fmt.Errorf("source: %w", ErrNotFound)
		}
		src, err = decodeSource(id[:], v)
		return err
	})
	return src, err
}

// DeleteSource removes a source with all its items (records, chunks, log
// entries) and replies, in one transaction. Uploads of this source still in
// progress then fail to commit.
func (s *Store) DeleteSource(id SourceID) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	err := s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSources)
		if err != nil {
			return err
		}
		if b.Get(id[:]) == nil {
			return fmt.Errorf("source: %w", ErrNotFound)
		}
		var items []ItemID
		err = tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			if len(k) == 16 && len(v) >= 35 && bytes.Equal(v[3:35], id[:]) {
				items = append(items, ItemID(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := deleteItem(tx, it); err != nil {
				return err
			}
		}
		var replies [][]byte
		c := tx.Bucket(bucketReplies).Cursor()
		for k, _ := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, _ = c.Next() {
			replies = append(replies, bytes.Clone(k))
		}
		for _, k := range replies {
			if err := deleteReply(tx, k); err != nil {
				return err
			}
		}
		return b.Delete(id[:])
	})
	if err == nil {
		s.mu.Lock()
		delete(s.seqs, id)
		s.mu.Unlock()
	}
	return err
}
