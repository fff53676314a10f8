package safename

import "errors"

// ErrNoUniqueName is returned by [Unique] when [MaxAttempts] candidate
// names all exist.
var ErrNoUniqueName = errors.New("safename: no free name found")
