//go:build !unix

package vault

import "errors"

func mkfifo(path string) error { return errors.ErrUnsupported }

func settle() {}
