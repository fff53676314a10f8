package store

import (
	"crypto/sha256"
	"fmt"

	"go.etcd.io/bbolt"
)

// Replacement is the new ciphertext of a committed item: the same item
// re-encrypted (by a journalist, offline) to another recipient set. Get
// one from [Store.NewReplacement], Write the new ciphertext, then swap it
// in with [Store.ReplaceItems] (or Abort).
//
// Until the swap, the new ciphertext is staged exactly like an upload in
// progress: chunks under a fresh random ID and a pending record, written
// by the writer goroutine with the same memory bounds as an ItemWriter,
// invisible to every read, and removed by Open after a crash. The item
// itself is not touched before the swap.
type Replacement struct {
	w      *ItemWriter // stages the ciphertext under its own fresh ID
	target ItemID
	src    SourceID
}

// NewReplacement starts the new ciphertext of the committed item id,
// which must belong to source src (ErrNotFound otherwise, the same error
// as for an item that does not exist), encrypted to the recipient set
// setID. The store does not check the set: the caller does.
func (s *Store) NewReplacement(id ItemID, src SourceID, setID [16]byte) (*Replacement, error) {
	if s.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	it, err := s.Item(id)
	if err != nil {
		return nil, err
	}
	if it.Source != src {
		return nil, fmt.Errorf("item: %w", ErrNotFound)
	}
	stage, err := s.newID()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if _, dup := s.open[stage]; dup || stage == id {
		return nil, fmt.Errorf("%w: item ID collision", ErrExists)
	}
	// The pending record carries the item's own kind and sequence number
	// (nothing reads them: the staged chunks never become an item of
	// their own). No sequence number is taken from the source.
	w := &ItemWriter{
		s: s, id: stage, src: src, kind: it.Kind, seq: it.Seq, setID: setID,
		buf:  s.getBuf(),
		hash: sha256.New(),
	}
	s.open[stage] = w
	return &Replacement{w: w, target: id, src: src}, nil
}

// Item returns the ID of the item this replaces.
func (r *Replacement) Item() ItemID { return r.target }

// Write appends new ciphertext, as [ItemWriter.Write] does.
func (r *Replacement) Write(p []byte) (int, error) { return r.w.Write(p) }

// Abort abandons the replacement and removes what was staged, as
// [ItemWriter.Abort] does. The item keeps its ciphertext.
func (r *Replacement) Abort() error { return r.w.Abort() }

// ReplaceItems swaps in the new ciphertexts, all of them or none, in one
// transaction: for each item, its old chunks are deleted, the staged
// chunks take their place, and its record gets the new recipient set ID,
// size, SHA-256 and chunk count. Its cursor, sequence number, day, kind,
// source and fetched flag do not change. ReplaceItems returns only after
// the transaction has been synced to disk: a crash before leaves every
// item as it was (the staged chunks are removed by Open), a crash after
// leaves every item replaced. It returns the items' new metadata, in the
// order given, and how many were already exactly as requested (same set,
// size and SHA-256: nothing is rewritten for those, so the same swap can
// be sent twice).
//
// An item deleted meanwhile, or not of the source the Replacement was
// made for, fails the whole swap with ErrNotFound; two Replacements for
// the same item with ErrInvalid. After a failure every Replacement stays
// as it was: swap again, or Abort them.
//
// The transaction writes every new ciphertext again (bbolt cannot move a
// value to another key), so it holds about the sum of their sizes in
// memory until it commits, and other writes wait for it: callers bound
// the total (the journalist API takes at most 256 MiB per request).
func (s *Store) ReplaceItems(rs ...*Replacement) ([]Item, int, error) {
	if len(rs) == 0 {
		return nil, 0, nil
	}
	seen := make(map[*ItemWriter]bool, len(rs))
	targets := make(map[ItemID]bool, len(rs))
	for _, r := range rs {
		if r == nil || r.w == nil || r.w.s != s {
			return nil, 0, fmt.Errorf("%w: replacement from another store or nil", ErrInvalid)
		}
		if seen[r.w] || targets[r.target] {
			return nil, 0, fmt.Errorf("%w: an item is replaced twice", ErrInvalid)
		}
		seen[r.w], targets[r.target] = true, true
		if err := r.w.usable(); err != nil {
			return nil, 0, err
		}
	}
	for _, r := range rs {
		if err := r.w.reap(true); err != nil {
			return nil, 0, err
		}
	}
	news := make([]Item, len(rs))
	tails := make([][]byte, len(rs))
	nbytes := 0
	for i, r := range rs {
		w := r.w
		news[i] = Item{ID: r.target, Source: r.src, SetID: w.setID, Size: w.size}
		w.hash.Sum(news[i].SHA256[:0])
		tails[i] = w.buf
		nbytes += int(min(w.size, 1<<40))
	}
	var unchanged int
	req := newRequest(nbytes, func(tx *bbolt.Tx) error {
		var err error
		unchanged, err = replaceItems(tx, rs, news, tails)
		return err
	})
	if err := s.do(req); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	for _, r := range rs {
		r.w.state.Store(stateCommitted)
		delete(s.open, r.w.id)
	}
	s.mu.Unlock()
	for _, r := range rs {
		s.putBuf(r.w.buf) // the swap transaction has ended
		r.w.buf = nil
	}
	return news, unchanged, nil
}

// replaceItems is the swap transaction. news holds each item's new ID,
// source, set, size and SHA-256; it fills in the rest from the item
// records. Like every request it may run more than once and does the
// same each time.
func replaceItems(tx *bbolt.Tx, rs []*Replacement, news []Item, tails [][]byte) (int, error) {
	var bs [3]*bbolt.Bucket
	for i, name := range [][]byte{bucketItems, bucketPending, bucketChunks} {
		b, err := bucket(tx, name)
		if err != nil {
			return 0, err
		}
		bs[i] = b
	}
	itemsB, pendingB, chunksB := bs[0], bs[1], bs[2]
	unchanged := 0
	for i, r := range rs {
		w, nw := r.w, &news[i]
		v := itemsB.Get(r.target[:])
		if v == nil {
			return 0, fmt.Errorf("item %d: %w", i+1, ErrNotFound)
		}
		old, _, err := decodeItem(r.target[:], v)
		if err != nil {
			return 0, err
		}
		if old.Source != r.src {
			return 0, fmt.Errorf("item %d: %w", i+1, ErrNotFound)
		}
		if w.next > 0 && pendingB.Get(w.id[:]) == nil {
			return 0, fmt.Errorf("%w: replacement is no longer pending", ErrAborted)
		}
		if itemsB.Get(w.id[:]) != nil {
			return 0, fmt.Errorf("%w: item ID collision", ErrExists)
		}
		src, set, size, sum := nw.Source, nw.SetID, nw.Size, nw.SHA256
		*nw = *old
		nw.Source, nw.SetID, nw.Size, nw.SHA256 = src, set, size, sum
		if old.SetID == set && old.Size == size && old.SHA256 == sum {
			unchanged++
		} else {
			if err := deleteChunks(tx, bucketChunks, r.target); err != nil {
				return 0, err
			}
			chunks := w.next
			for j := range w.next {
				// bbolt: a value from Get is valid for the life of the
				// transaction, which is what Put asks of its value.
				c := chunksB.Get(chunkKey(w.id, j))
				if len(c) == 0 {
					return 0, fmt.Errorf("%w: staged chunk %d of item %d is missing", ErrCorrupt, j, i+1)
				}
				if err := chunksB.Put(chunkKey(r.target, j), c); err != nil {
					return 0, err
				}
			}
			if len(tails[i]) > 0 {
				if err := chunksB.Put(chunkKey(r.target, chunks), tails[i]); err != nil {
					return 0, err
				}
				chunks++
			}
			if err := itemsB.Put(r.target[:], encodeItem(nw, chunks)); err != nil {
				return 0, err
			}
		}
		if err := deleteChunks(tx, bucketChunks, w.id); err != nil {
			return 0, err
		}
		if err := pendingB.Delete(w.id[:]); err != nil {
			return 0, err
		}
	}
	return unchanged, nil
}
