package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"

	"go.etcd.io/bbolt"
)

// Reply is a journalist's reply to a source: age ciphertext to the
// source's reply recipient.
type Reply struct {
	ID     ItemID
	Source SourceID
	Size   int64
	Day    uint32
}

// AddReply stores a reply to src. The ciphertext is read whole (at most
// MaxReplySize bytes, else ErrTooLarge) and stored in one transaction, as
// chunks of Options.ChunkSize.
func (s *Store) AddReply(src SourceID, ciphertext io.Reader) (*Reply, error) {
	if s.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	data, err := io.ReadAll(io.LimitReader(ciphertext, MaxReplySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading reply: %w", err)
	}
	if len(data) > MaxReplySize {
		return nil, fmt.Errorf("%w: reply is over %d bytes", ErrTooLarge, MaxReplySize)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty reply", ErrInvalid)
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	rec := &replyRecord{Size: int64(len(data)), SHA256: sha256.Sum256(data), Day: s.today()}
	var chunks [][]byte
	for rest := data; len(rest) > 0; {
		n := min(len(rest), s.opts.ChunkSize)
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	rec.Chunks = uint32(len(chunks))
	err = s.do(newRequest(len(data), func(tx *bbolt.Tx) error {
		srcB, err := bucket(tx, bucketSources)
		if err != nil {
			return err
		}
		if srcB.Get(src[:]) == nil {
			return fmt.Errorf("source: %w", ErrNotFound)
		}
		rb, err := bucket(tx, bucketReplies)
		if err != nil {
			return err
		}
		key := replyKey(src, id)
		if rb.Get(key) != nil {
			return fmt.Errorf("%w: reply ID collision", ErrExists)
		}
		cb, err := bucket(tx, bucketReplyChunks)
		if err != nil {
			return err
		}
		for i, c := range chunks {
			if err := cb.Put(chunkKey(id, uint32(i)), c); err != nil {
				return err
			}
		}
		return rb.Put(key, encodeReply(rec))
	}))
	if err != nil {
		return nil, err
	}
	return &Reply{ID: id, Source: src, Size: rec.Size, Day: rec.Day}, nil
}

// Replies returns the replies to src, oldest day first (IDs are random, so
// replies of the same day come in no meaningful order).
func (s *Store) Replies(src SourceID) ([]Reply, error) {
	var out []Reply
	err := s.view(func(tx *bbolt.Tx) error {
		rb, err := bucket(tx, bucketReplies)
		if err != nil {
			return err
		}
		c := rb.Cursor()
		for k, v := c.Seek(src[:]); k != nil && bytes.HasPrefix(k, src[:]); k, v = c.Next() {
			r, err := decodeReply(k, v)
			if err != nil {
				return err
			}
			out = append(out, Reply{ID: ItemID(k[32:]), Source: src, Size: r.Size, Day: r.Day})
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b Reply) int { return int(int64(a.Day) - int64(b.Day)) })
	return out, err
}

// OpenReply streams a reply of src, verifying its SHA-256 at EOF like
// OpenItem. A reply of another source is ErrNotFound.
func (s *Store) OpenReply(src SourceID, id ItemID) (io.ReadCloser, error) {
	key := replyKey(src, id)
	var rec *replyRecord
	err := s.view(func(tx *bbolt.Tx) error {
		rb, err := bucket(tx, bucketReplies)
		if err != nil {
			return err
		}
		v := rb.Get(key)
		if v == nil {
			return fmt.Errorf("reply: %w", ErrNotFound)
		}
		rec, err = decodeReply(key, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &chunkReader{
		s: s, id: [16]byte(id), chunkBucket: bucketReplyChunks,
		recBucket: bucketReplies, recKey: key,
		size: rec.Size, sum: rec.SHA256, chunks: rec.Chunks, hash: sha256.New(),
	}, nil
}

// DeleteReply removes a reply of src (record and chunks, one transaction).
// A reply of another source is ErrNotFound.
func (s *Store) DeleteReply(src SourceID, id ItemID) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	return s.update(func(tx *bbolt.Tx) error { return deleteReply(tx, replyKey(src, id)) })
}

func deleteReply(tx *bbolt.Tx, key []byte) error {
	rb, err := bucket(tx, bucketReplies)
	if err != nil {
		return err
	}
	if rb.Get(key) == nil {
		return fmt.Errorf("reply: %w", ErrNotFound)
	}
	if err := deleteChunks(tx, bucketReplyChunks, [16]byte(key[32:])); err != nil {
		return err
	}
	return rb.Delete(key)
}
