//go:build unix

package vault

import "syscall"

// mkfifo makes a named pipe.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// settle writes every dirty page of the system to disk, so that one
// benchmark iteration's write-back (or the discards of the files it
// removed) does not slow the next one down.
func settle() { syscall.Sync() }
