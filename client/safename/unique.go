package safename

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// MaxAttempts bounds how many names [Unique] tries.
const MaxAttempts = 1000

// Unique returns Sanitize(name) if exists reports that it is free, and
// otherwise the first free name of the form "report (2).pdf",
// "report (3).pdf", …, trying at most [MaxAttempts] names. Every name it
// returns is a fixed point of [Sanitize] and at most [MaxLen] bytes.
//
// It returns [ErrNoUniqueName] when all attempts exist, and an error from
// exists wrapped. Unique only reduces collisions: create the file with
// O_EXCL all the same.
func Unique(name string, exists func(name string) (bool, error)) (string, error) {
	name = Sanitize(name)
	ext := extension(name)
	base := strings.TrimSuffix(name, ext)
	for n := 1; n <= MaxAttempts; n++ {
		c := name
		if n > 1 {
			suffix := " (" + strconv.Itoa(n) + ")"
			b := strings.TrimRight(truncate(base, MaxLen-len(ext)-len(suffix)), " .")
			c = Sanitize(b + suffix + ext)
		}
		taken, err := exists(c)
		if err != nil {
			return "", fmt.Errorf("safename: checking a candidate name: %w", err)
		}
		if !taken {
			return c, nil
		}
	}
	return "", ErrNoUniqueName
}

// InDir returns an exists function for [Unique] that looks names up in
// fsys (for example os.DirFS(dir)) without following symbolic links, so a
// dangling link counts as taken.
func InDir(fsys fs.FS) func(name string) (bool, error) {
	return func(name string) (bool, error) {
		_, err := fs.Lstat(fsys, name)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		default:
			return false, err
		}
	}
}
