package store

import (
	"fmt"
	"io"

	"go.etcd.io/bbolt"
)

// Snapshot describes the consistent copy that [Store.BackupTo] is about to
// write: its exact length and what it holds, all from the read transaction
// that writes it.
type Snapshot struct {
	// Size is the exact number of bytes of the copy (bbolt Tx.Size: the
	// file up to its high-water mark, free pages included).
	Size int64

	// Counts of the records in the copy. Pending uploads are copied as
	// pending records; they are removed when the copy is opened
	// read-write (see Open), so they are never visible.
	Sources, Items, Replies, Pending int

	// LastCursor is the newest cursor assigned when the copy was taken
	// (see LastCursor): the copy holds exactly the items committed up to it
	// and not deleted by then.
	LastCursor uint64
}

// BackupTo writes a consistent copy of the whole file, like [Store.Backup],
// for a caller that must state the copy's length before its bytes (a tar
// header, say) and must not buffer them. In one read transaction it calls
// begin with the [Snapshot], then writes exactly Snapshot.Size bytes to the
// writer begin returns. It returns the number of bytes written.
//
// begin runs while the read transaction is open: whatever it reads beside
// the store (key files in the data directory) is read at the moment of the
// snapshot. An error from begin ends the backup before any byte is written
// and is returned as is.
//
// The store keeps serving meanwhile. As with every long read transaction in
// bbolt, pages freed while it runs are not reused until it ends (the file
// may grow), and a commit that needs bbolt to grow its memory map waits
// for it to end.
func (s *Store) BackupTo(begin func(Snapshot) (io.Writer, error)) (int64, error) {
	var n int64
	var beginErr error
	err := s.view(func(tx *bbolt.Tx) error {
		snap := Snapshot{Size: tx.Size()}
		counts := []struct {
			name []byte
			n    *int
		}{
			{bucketSources, &snap.Sources},
			{bucketItems, &snap.Items},
			{bucketReplies, &snap.Replies},
			{bucketPending, &snap.Pending},
		}
		for _, c := range counts {
			b, err := bucket(tx, c.name)
			if err != nil {
				return err
			}
			*c.n = b.Stats().KeyN
		}
		logB, err := bucket(tx, bucketLog)
		if err != nil {
			return err
		}
		snap.LastCursor = logB.Sequence()
		w, err := begin(snap)
		if err != nil {
			beginErr = err
			return err
		}
		n, err = tx.WriteTo(w)
		if err != nil {
			return err
		}
		if n != snap.Size {
			return fmt.Errorf("wrote %d bytes, the snapshot has %d", n, snap.Size)
		}
		return nil
	})
	if beginErr != nil {
		return 0, beginErr
	}
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}
