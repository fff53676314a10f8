package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync/atomic"

	"go.etcd.io/bbolt"
)

// Item is the metadata of a committed item. There is deliberately no time
// finer than Day, and nothing about who uploaded it.
type Item struct {
	ID      ItemID
	Source  SourceID
	Kind    Kind
	Seq     uint64   // per-source sequence number (gaps possible, never repeated)
	SetID   [16]byte // recipient set the ciphertext is encrypted to
	Size    int64    // ciphertext bytes
	SHA256  [32]byte // of the ciphertext
	Day     uint32   // UTC days since 1970-01-01 of the commit
	Cursor  uint64   // position in the commit-order log; see ListItems
	Fetched bool
}

// writer states
const (
	stateOpen int32 = iota
	stateCommitted
	stateAborted
	stateClosed // the Store was closed
)

// ItemWriter streams the ciphertext of one item into the store. Get one
// from [Store.NewItem], Write the ciphertext, then [Store.Commit] it (or
// Abort). An ItemWriter is not safe for concurrent use, except that
// [Store.Close] may run at any time (later calls then fail with ErrClosed).
//
// Memory: Write copies into a buffer of Options.ChunkSize bytes that the
// upload owns. When it is full, the buffer goes to the writer goroutine as
// a chunk and the upload takes a fresh one. A buffer is reused only after
// the transaction that stored it has ended (bbolt keeps a reference to a
// value until commit). Chunks in flight, of all uploads together, are
// capped at MaxBatchBytes/ChunkSize (32 by default); an upload that would
// exceed the cap waits in Write until a commit frees room. So the store
// holds at most (uploads + MaxBatchBytes/ChunkSize) × ChunkSize bytes of
// buffers: 256 KiB per upload plus 8 MiB shared, by default. A slow
// upload holds one chunk, not a share of the cap; a single fast upload can
// use the whole cap, so its chunks are committed many per fsync.
type ItemWriter struct {
	s     *Store
	id    ItemID
	src   SourceID
	kind  Kind
	seq   uint64
	setID [16]byte

	state    atomic.Int32
	err      error      // sticky: a chunk failed to be stored
	buf      []byte     // being filled
	inflight []*request // chunks sent, outcome not yet seen
	next     uint32     // index of the next chunk to send
	size     int64
	hash     hash.Hash
}

// NewItem starts an upload for source src. The item ID (random) and the
// sequence number are known at once, so they can go into the envelope
// header before the first byte is written. Nothing is visible until Commit;
// nothing is written to the file until the first full chunk.
//
// Sequence numbers come from a per-source counter kept in memory, loaded
// from the source's NextSeq the first time; Commit stores
// max(NextSeq, Seq+1). A crash loses the counter: it restarts at the
// stored NextSeq, which is above every committed item's Seq, so visible
// items never share a sequence number; uploads that were never committed
// leave gaps.
func (s *Store) NewItem(src SourceID, kind Kind, setID [16]byte) (*ItemWriter, error) {
	if s.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	if !kind.valid() {
		return nil, fmt.Errorf("%w: item kind %d", ErrInvalid, kind)
	}
	source, err := s.Source(src)
	if err != nil {
		return nil, err
	}
	id, err := s.newID()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if _, dup := s.open[id]; dup {
		return nil, fmt.Errorf("%w: item ID collision", ErrExists)
	}
	seq, ok := s.seqs[src]
	if !ok || seq < source.NextSeq {
		seq = source.NextSeq
	}
	s.seqs[src] = seq + 1
	w := &ItemWriter{
		s: s, id: id, src: src, kind: kind, seq: seq, setID: setID,
		buf:  s.getBuf(),
		hash: sha256.New(),
	}
	s.open[id] = w
	return w, nil
}

// ID returns the item's ID.
func (w *ItemWriter) ID() ItemID { return w.id }

// Sequence returns the item's per-source sequence number.
func (w *ItemWriter) Sequence() uint64 { return w.seq }

func (w *ItemWriter) usable() error {
	switch w.state.Load() {
	case stateCommitted:
		return ErrCommitted
	case stateAborted:
		return ErrAborted
	case stateClosed:
		return ErrClosed
	}
	return w.err
}

// Write appends ciphertext. It blocks while the previous chunk of this item
// is not yet committed. After an error the writer is failed: only Abort
// remains.
func (w *ItemWriter) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	total := 0
	for len(p) > 0 {
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		w.hash.Write(p[:n])
		w.size += int64(n)
		total += n
		p = p[n:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				w.err = err
				return total, err
			}
		}
	}
	return total, nil
}

// reap collects the outcome of the chunks in flight: all of them if block,
// else those already answered.
func (w *ItemWriter) reap(block bool) error {
	keep := w.inflight[:0]
	for _, r := range w.inflight {
		var err error
		if block {
			err = <-r.done
		} else {
			select {
			case err = <-r.done:
			default:
				keep = append(keep, r)
				continue
			}
		}
		if err != nil && w.err == nil {
			w.err = err
		}
	}
	clear(w.inflight[len(keep):])
	w.inflight = keep
	return w.err
}

// flush hands the full buffer to the writer goroutine as the next chunk.
// The first chunk also records the item as pending, in the same
// transaction.
func (w *ItemWriter) flush() error {
	if err := w.reap(false); err != nil {
		return err
	}
	if w.state.Load() != stateOpen {
		return w.usable()
	}
	s := w.s
	select {
	case s.tokens <- struct{}{}:
	case <-s.quit:
		return ErrClosed
	}
	data, idx, id := w.buf, w.next, w.id
	var pend []byte
	if idx == 0 {
		pend = encodePending(&pendingRecord{Source: w.src, Kind: w.kind, Seq: w.seq, SetID: w.setID})
	}
	r := newRequest(len(data), func(tx *bbolt.Tx) error {
		p, err := bucket(tx, bucketPending)
		if err != nil {
			return err
		}
		if pend != nil {
			if err := p.Put(id[:], pend); err != nil {
				return err
			}
		} else if p.Get(id[:]) == nil {
			return fmt.Errorf("%w: upload is no longer pending", ErrAborted)
		}
		c, err := bucket(tx, bucketChunks)
		if err != nil {
			return err
		}
		return c.Put(chunkKey(id, idx), data)
	})
	r.chunk = data
	if err := s.send(r); err != nil {
		<-s.tokens
		return err
	}
	w.inflight = append(w.inflight, r)
	w.next++
	w.buf = s.getBuf()
	return nil
}

// Abort abandons the upload and removes its chunks (in one transaction).
// Aborting twice, or after the Store was closed, is not an error.
func (w *ItemWriter) Abort() error {
	switch w.state.Load() {
	case stateCommitted:
		return ErrCommitted
	case stateAborted, stateClosed:
		return nil
	}
	_ = w.reap(true)
	w.state.Store(stateAborted)
	s, id := w.s, w.id
	var err error
	if w.next > 0 {
		err = s.update(func(tx *bbolt.Tx) error {
			p, err := bucket(tx, bucketPending)
			if err != nil {
				return err
			}
			if err := p.Delete(id[:]); err != nil {
				return err
			}
			return deleteChunks(tx, bucketChunks, id)
		})
		if errors.Is(err, ErrClosed) {
			err = nil // Close removes pending uploads itself
		}
	}
	s.mu.Lock()
	delete(s.open, id)
	s.mu.Unlock()
	s.putBuf(w.buf)
	w.buf = nil
	return err
}

func (w *ItemWriter) markClosed() { w.state.CompareAndSwap(stateOpen, stateClosed) }

// Commit makes the given uploads visible, all of them or none: the last
// chunks, the item records, their log entries, the removal of their
// pending records and the sources' NextSeq go into one transaction, and
// Commit returns only after it has been synced to disk. Until then, Item,
// OpenItem, ListItems and ItemsOf do not see them.
//
// If Commit fails nothing became visible and every writer stays as it
// was: commit it again, or Abort it. A writer that was aborted, already
// committed or failed makes Commit fail (ErrAborted, ErrCommitted, or the
// earlier error) before anything is written. An item whose source was
// deleted meanwhile fails the Commit with ErrNotFound.
func (s *Store) Commit(ws ...*ItemWriter) ([]Item, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	seen := make(map[*ItemWriter]bool)
	for _, w := range ws {
		if w == nil || w.s != s {
			return nil, fmt.Errorf("%w: writer from another store or nil", ErrInvalid)
		}
		if seen[w] {
			return nil, fmt.Errorf("%w: writer given twice", ErrInvalid)
		}
		seen[w] = true
		if err := w.usable(); err != nil {
			return nil, err
		}
	}
	for _, w := range ws {
		if err := w.reap(true); err != nil {
			return nil, err
		}
	}
	day := s.today()
	items := make([]Item, len(ws))
	tails := make([][]byte, len(ws))
	nbytes := 0
	for i, w := range ws {
		items[i] = Item{ID: w.id, Source: w.src, Kind: w.kind, Seq: w.seq, SetID: w.setID, Size: w.size, Day: day}
		w.hash.Sum(items[i].SHA256[:0])
		tails[i] = w.buf
		nbytes += len(w.buf)
	}
	r := newRequest(nbytes, func(tx *bbolt.Tx) error {
		return commitItems(tx, ws, items, tails)
	})
	if err := s.do(r); err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, w := range ws {
		w.state.Store(stateCommitted)
		delete(s.open, w.id)
	}
	s.mu.Unlock()
	for _, w := range ws {
		s.putBuf(w.buf) // the commit transaction has ended
		w.buf = nil
	}
	return items, nil
}

// commitItems is the commit transaction. It fills in items[i].Cursor; it
// may run more than once (see runBatch), and does the same each time.
func commitItems(tx *bbolt.Tx, ws []*ItemWriter, items []Item, tails [][]byte) error {
	var bs [5]*bbolt.Bucket
	for i, name := range [][]byte{bucketItems, bucketLog, bucketPending, bucketChunks, bucketSources} {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		bs[i] = b
	}
	itemsB, logB, pendingB, chunksB, sourcesB := bs[0], bs[1], bs[2], bs[3], bs[4]
	for i, w := range ws {
		it := &items[i]
		if w.next > 0 && pendingB.Get(it.ID[:]) == nil {
			return fmt.Errorf("%w: upload is no longer pending", ErrAborted)
		}
		if itemsB.Get(it.ID[:]) != nil {
			return fmt.Errorf("%w: item ID collision", ErrExists)
		}
		chunks := w.next
		if len(tails[i]) > 0 {
			if err := chunksB.Put(chunkKey(it.ID, chunks), tails[i]); err != nil {
				return err
			}
			chunks++
		}
		srcRec := sourcesB.Get(it.Source[:])
		if srcRec == nil {
			return fmt.Errorf("%w: source of an item was deleted", ErrNotFound)
		}
		src, err := decodeSource(it.Source[:], srcRec)
		if err != nil {
			return err
		}
		if src.NextSeq <= it.Seq {
			src.NextSeq = it.Seq + 1
			if err := sourcesB.Put(it.Source[:], encodeSource(src)); err != nil {
				return err
			}
		}
		cursor, err := logB.NextSequence()
		if err != nil {
			return err
		}
		it.Cursor = cursor
		if err := logB.Put(cursorKey(cursor), encodeLog(it.ID)); err != nil {
			return err
		}
		if err := itemsB.Put(it.ID[:], encodeItem(it, chunks)); err != nil {
			return err
		}
		if err := pendingB.Delete(it.ID[:]); err != nil {
			return err
		}
	}
	return nil
}
