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

// AddReply stores a reply to src under a fresh random ID. The ciphertext
// is read whole (at most MaxReplySize bytes, else ErrTooLarge).
func (s *Store) AddReply(src SourceID, ciphertext io.Reader) (*Reply, error) {
	data, err := io.ReadAll(io.LimitReader(ciphertext, MaxReplySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading reply: %w", err)
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	if _, err := s.AddReplies([]NewReply{{Source: src, ID: id, Data: data}}); err != nil {
		return nil, err
	}
	return &Reply{ID: id, Source: src, Size: int64(len(data)), Day: s.today()}, nil
}

// NewReply is one reply for AddReplies: its ID is chosen by the
// journalist's client (it is bound inside the encrypted envelope too).
type NewReply struct {
	Source SourceID
	ID     ItemID
	Data   []byte // the age file, at most MaxReplySize bytes
}

// AddReplies stores replies all or none, in one transaction, each as
// chunks of Options.ChunkSize. A reply whose ID the source already has
// with the same bytes is counted in already and not stored again, so the
// same reply bundle can be pushed twice; with other bytes, or an ID that
// another source's reply uses, it is ErrExists. A source that does not
// exist is ErrNotFound. Errors name the reply's position in batch, never
// an ID.
func (s *Store) AddReplies(batch []NewReply) (already int, err error) {
	if s.opts.ReadOnly {
		return 0, ErrReadOnly
	}
	total := 0
	recs := make([]*replyRecord, len(batch))
	for i, r := range batch {
		if len(r.Data) > MaxReplySize {
			return 0, fmt.Errorf("%w: reply %d is over %d bytes", ErrTooLarge, i+1, MaxReplySize)
		}
		if len(r.Data) == 0 {
			return 0, fmt.Errorf("%w: reply %d is empty", ErrInvalid, i+1)
		}
		total += len(r.Data)
		recs[i] = &replyRecord{Size: int64(len(r.Data)), SHA256: sha256.Sum256(r.Data), Day: s.today(),
			Chunks: uint32((len(r.Data) + s.opts.ChunkSize - 1) / s.opts.ChunkSize)}
	}
	err = s.do(newRequest(total, func(tx *bbolt.Tx) error {
		already = 0
		srcB, err := bucket(tx, bucketSources)
		if err != nil {
			return err
		}
		rb, err := bucket(tx, bucketReplies)
		if err != nil {
			return err
		}
		cb, err := bucket(tx, bucketReplyChunks)
		if err != nil {
			return err
		}
		for i, r := range batch {
			if srcB.Get(r.Source[:]) == nil {
				return fmt.Errorf("reply %d: source: %w", i+1, ErrNotFound)
			}
			key := replyKey(r.Source, r.ID)
			if v := rb.Get(key); v != nil {
				old, err := decodeReply(key, v)
				if err != nil {
					return err
				}
				if old.SHA256 != recs[i].SHA256 || old.Size != recs[i].Size {
					return fmt.Errorf("%w: reply %d: the source has another reply with this ID", ErrExists, i+1)
				}
				already++
				continue
			}
			if cb.Get(chunkKey(r.ID, 0)) != nil {
				return fmt.Errorf("%w: reply %d: reply ID in use", ErrExists, i+1)
			}
			for j, rest := uint32(0), r.Data; len(rest) > 0; j++ {
				n := min(len(rest), s.opts.ChunkSize)
				if err := cb.Put(chunkKey(r.ID, j), rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
			if err := rb.Put(key, encodeReply(recs[i])); err != nil {
				return err
			}
		}
		return nil
	}))
	if err != nil {
		return 0, err
	}
	return already, nil
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
