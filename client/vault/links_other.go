//go:build !unix

package vault

import "io/fs"

// extraLinks cannot tell the link count on this system.
func extraLinks(fi fs.FileInfo) bool { return false }
