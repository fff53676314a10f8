//go:build unix

package vault

import (
	"io/fs"
	"syscall"
)

// extraLinks reports whether the file has more than one hard link: a file
// of the vault that another name also points to was not made by this
// package (it links each file once and removes the temporary name).
func extraLinks(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}
