// Package backup writes, checks and restores encrypted backups of a sandyq
// data directory: "sandyq admin backup -o FILE" and "sandyq admin restore
// FILE".
//
// A backup is one age file, encrypted to the newsroom's recipient set in
// force, of a tar archive that holds everything needed to bring the same
// drop back on another machine: the pepper, newsroom.pub, instance.key,
// the key files of every onion service (so the addresses stay the same), a
// consistent snapshot of the store, and, last, a manifest listing every
// file's name, size and SHA-256. The format is specified in docs/format.md
// ("Backups").
//
// # Writing
//
// [Write] runs while the server serves (through the control socket) or
// with the store opened directly. The store snapshot is one bbolt read
// transaction streamed through age to the output, so memory stays small and
// nothing but the output is written. [WriteFile] creates the output file
// so that it appears whole or not at all:
//
//	err := backup.WriteFile("sandyq.backup", func(w io.Writer) error {
//		_, err := backup.Write(w, dir, st, recipients, time.Now())
//		return err
//	})
//
// The server never holds an identity that can read a backup: only the
// newsroom's (offline) identities can.
//
// # Checking and restoring
//
// [Inspect] decrypts a backup and checks everything but the store's inner
// consistency, writing nothing. [Restore] rebuilds the data directory
// beside its destination, checks it (store.Check included) and renames it
// into place in one step: a kill -9 at any point leaves the destination as
// it was or complete.
//
// A backup is hostile input until checked. age guarantees confidentiality
// and integrity, not origin: the recipients are public, so anyone can make
// a file that decrypts. Every entry is checked (names from a fixed set,
// regular files only, sizes capped, the manifest matching every byte), and
// [Info.InstanceKey] tells who made it: a backup holds the instance secret
// key, so one whose instance key is the key the journalists pinned came
// from someone who had that key. Compare it before serving a restored
// directory.
package backup
