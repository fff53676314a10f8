// Package store keeps everything the sandyq server stores in one bbolt
// file: sources, items (as chunks of age ciphertext), replies, recipient
// sets, journalists and settings. It never sees plaintext and never
// decrypts: it keeps ciphertext and opaque blobs, and the metadata listed
// in docs/format.md ("Store"), with no time finer than a UTC day, and
// nothing about who connected from where.
//
// # Opening
//
// [Open] creates the file if needed (atomically: a crash never leaves a
// half-initialised store), refuses a file that is group- or
// world-accessible ([ErrPermissions]), locked by another process
// ([ErrLocked], within [Options].LockTimeout), damaged ([ErrCorrupt]) or
// of a newer schema ([ErrVersion]), runs schema migrations, and removes
// uploads that a crash left unfinished. Only one process can have the
// file open read-write; "sandyq admin" talks to a running server over its
// control socket instead.
//
// # Uploading an item
//
//	w, err := st.NewItem(sourceID, store.KindFile, setID)
//	// w.ID() and w.Sequence() go into the envelope header.
//	sealed, err := envelope.Seal(w, header, recipients...)
//	_, err = io.Copy(sealed, part)
//	err = sealed.Close()
//	items, err := st.Commit(w) // or st.Commit(w1, w2, w3): all or none
//	// on any error: w.Abort()
//
// Writes are streamed: an [ItemWriter] fills one buffer of
// [Options].ChunkSize and hands full chunks to a single writer goroutine,
// which commits the chunks of all concurrent uploads together (group
// commit, one fsync for many uploads). Chunks in flight are capped for the
// whole store by [Options].MaxBatchBytes, so memory is bounded by
// (uploads + MaxBatchBytes/ChunkSize) × ChunkSize. Nothing is visible until
// [Store.Commit] returns, which is when a source may be told "received".
//
// # Reading
//
// [Store.ListItems] lists items in commit order after a cursor, for
// incremental fetching; [Store.OpenItem] streams the ciphertext chunk by
// chunk in short read transactions and checks its SHA-256 at the end.
//
// # Deleting
//
// bbolt does not zero freed pages. After [Store.DeleteItem] or
// [Store.DeleteSource] the ciphertext stays in the file until its pages
// are reused or the file is rewritten by [Store.CompactTo] and the old
// file deleted. The ciphertext is useless without the recipients'
// identities; forward secrecy comes from destroying old epoch identities.
//
// # Maintenance
//
// [Store.Check] verifies pages, records, invariants and every hash.
// [Store.Backup] writes a consistent copy while serving. [Store.Stats]
// counts.
package store
