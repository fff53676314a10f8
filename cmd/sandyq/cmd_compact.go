package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sandyq/server/control"
	"sandyq/server/datadir"
	"sandyq/server/store"
)

// adminCompact rewrites the store into a fresh file that holds only live
// data and replaces the old file with it: deleted items' bytes stay in the
// old file's free pages until then (bbolt never zeroes them). The
// replacement is a rename over the old file, so a kill -9 leaves either
// the old file or the new one in place (and at most a leftover
// sandyq.db.compact, removed by the next compact).
//
// It needs the server stopped: the running server holds the file open and
// its lock.
func adminCompact(ctx context.Context, e *env, d *datadir.Dir) error {
	if err := control.Call(ctx, d.Join(datadir.ControlSocket), opStatus, struct{}{}, nil); !errors.Is(err, control.ErrNotRunning) {
		return errors.New("compact replaces the store file: stop sandyq serve first, then run it again")
	}
	path := d.StorePath()
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing a leftover %s: %w", filepath.Base(tmp), err)
	}
	st, err := store.Open(path, nil)
	if err != nil {
		return err
	}
	before, err := st.Stats()
	if err != nil {
		st.Close()
		return err
	}
	if err := st.CompactTo(tmp); err != nil {
		st.Close()
		os.Remove(tmp)
		return fmt.Errorf("compacting: %w", err)
	}
	if err := st.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	crashPoint("compact:copied")
	// Check the copy before it replaces anything.
	cp, err := store.Open(tmp, nil)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("the compacted copy does not open (the store is unchanged): %w", err)
	}
	after, err := cp.Stats()
	if err == nil {
		err = cp.Check()
	}
	cp.Close()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("the compacted copy does not check (the store is unchanged): %w", err)
	}
	if after.Items != before.Items || after.Sources != before.Sources || after.Replies != before.Replies {
		os.Remove(tmp)
		return errors.New("the compacted copy does not hold the same records (the store is unchanged)")
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replacing the store: %w", err)
	}
	if err := syncDir(d.Path()); err != nil {
		return err
	}
	infof(e, "compacted the store: %s → %s (the old file, with the bytes of deleted items, is gone)", mib(before.FileSize), mib(after.FileSize))
	hintf(e, "on SSDs and copy-on-write file systems old blocks may survive; see docs/admin-guide.md")
	return nil
}
