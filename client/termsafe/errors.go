package termsafe

import "errors"

// ErrClosed is returned by [Writer.Write] and [Writer.Close] after the
// Writer was closed.
var ErrClosed = errors.New("termsafe: write to closed writer")
