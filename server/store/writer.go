package store

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// request is one unit of work for the writer goroutine: fn runs inside a
// shared write transaction. fn must not have effects outside the
// transaction: it may be run again in a new transaction if another request
// of the same batch fails (see [Store.runBatch]). bytes is what the request
// adds to the batch (chunk payload), for the MaxBatchBytes bound. done
// receives exactly one value: nil once the transaction that ran fn has been
// committed and synced to disk, or the error.
type request struct {
	fn    func(tx *bbolt.Tx) error
	bytes int
	done  chan error
	chunk []byte // a chunk buffer holding an in-flight token; released when answered
}

func newRequest(bytes int, fn func(tx *bbolt.Tx) error) *request {
	return &request{fn: fn, bytes: bytes, done: make(chan error, 1)}
}

// send hands r to the writer goroutine. It returns ErrClosed if the store is
// closing; otherwise r.done will receive the outcome.
func (s *Store) send(r *request) error {
	if s.reqs == nil {
		return ErrReadOnly
	}
	// sendMu makes "closed" and enqueuing one step: once Close has set
	// closed, nothing more enters reqs, and the writer's final drain
	// answers everything that did.
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.sendClosed {
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		return nil
	case <-s.quit:
		return ErrClosed
	}
}

// answer gives r its outcome, and returns its chunk buffer and in-flight
// token: the transaction that referenced the buffer has ended.
func (s *Store) answer(r *request, err error) {
	if r.chunk != nil {
		s.putBuf(r.chunk)
		r.chunk = nil
		<-s.tokens
	}
	r.done <- err
}

// getBuf returns an empty chunk buffer.
func (s *Store) getBuf() []byte {
	select {
	case b := <-s.free:
		return b[:0]
	default:
		return make([]byte, 0, s.opts.ChunkSize)
	}
}

// putBuf keeps b for reuse, if there is room.
func (s *Store) putBuf(b []byte) {
	if cap(b) != s.opts.ChunkSize {
		return
	}
	select {
	case s.free <- b:
	default:
	}
}

// do sends r and waits for its outcome.
func (s *Store) do(r *request) error {
	if err := s.send(r); err != nil {
		return err
	}
	return <-r.done
}

// update runs fn in a group-committed write transaction and waits for the
// fsync. It is the only way, apart from Open and Close, that anything in the
// file changes.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	return s.do(newRequest(0, fn))
}

// writeLoop is the single writer goroutine. It owns every write transaction
// while the store is open. It blocks for one request, then takes whatever
// else is already queued (without waiting) until the batch holds
// MaxBatchBytes of payload, runs all of it in one transaction, commits
// (bbolt fsyncs the data pages, then the meta page), and answers every
// request. An idle store therefore adds no latency: a lone request is
// committed at once; under load, many uploads share each fsync.
func (s *Store) writeLoop() {
	defer close(s.done)
	var batch []*request
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.quit:
			// send refuses new requests once quit is closed; answer
			// those already queued.
			for {
				select {
				case r := <-s.reqs:
					s.answer(r, ErrClosed)
				default:
					return
				}
			}
		}
		n := batch[0].bytes
	drain:
		for n < s.opts.MaxBatchBytes {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += r.bytes
			default:
				break drain
			}
		}
		s.runBatch(batch)
		clear(batch)
	}
}

// runBatch runs the requests in one transaction. If a request's fn fails,
// the transaction is rolled back, that request gets its error, and the rest
// are run again in a fresh transaction: a failing request never leaves a
// partial effect, and never takes the others down with it.
func (s *Store) runBatch(batch []*request) {
	for len(batch) > 0 {
		if err := s.brokenErr(); err != nil {
			for _, r := range batch {
				s.answer(r, err)
			}
			return
		}
		failed, ferr, err := s.tryBatch(batch)
		if failed >= 0 {
			s.answer(batch[failed], ferr)
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		for _, r := range batch {
			s.answer(r, err)
		}
		return
	}
}

// tryBatch runs batch in one transaction. It returns the index and error of
// the first request whose fn failed (the transaction is then rolled back),
// or -1 and the commit error.
func (s *Store) tryBatch(batch []*request) (failed int, ferr, err error) {
	defer func() {
		// bbolt panics on some on-disk damage it meets while writing. The
		// transaction is abandoned (Rollback below ran via the deferred
		// call in this function), and the store refuses further writes.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: writing: %v", ErrCorrupt, r)
			s.setBroken(err)
			failed, ferr = -1, nil
		}
	}()
	tx, err := s.db.Begin(true)
	if err != nil {
		return -1, nil, fmt.Errorf("starting write transaction: %w", err)
	}
	defer func() {
		if failed >= 0 || err != nil {
			_ = tx.Rollback()
		}
	}()
	for i, r := range batch {
		if ferr := r.fn(tx); ferr != nil {
			return i, ferr, nil
		}
	}
	if err := tx.Commit(); err != nil {
		// tx is closed by a failed Commit; Rollback is a no-op then.
		return -1, nil, fmt.Errorf("committing: %w", err)
	}
	return -1, nil, nil
}

func (s *Store) setBroken(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = err
	}
}

func (s *Store) brokenErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// bucket returns the named bucket of tx, or an ErrCorrupt error if the file
// lacks it (Open verified the schema, so this only happens if the file was
// changed behind our back).
func bucket(tx *bbolt.Tx, name []byte) (*bbolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, name)
	}
	return b, nil
}

var errStop = errors.New("stop")
