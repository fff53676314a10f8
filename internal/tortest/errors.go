package tortest

import (
	"errors"

	"sandyq/internal/socks"
)

// ErrNoTor is returned by [Lookup] (and makes [Require] skip or fail) when
// the tor or tor-gencert executable cannot be found.
var ErrNoTor = errors.New("tortest: tor or tor-gencert not found")

// ErrNotReady is returned by [Start] when the network does not come up
// before the context's deadline: the authorities never agreed on a
// consensus listing every relay, or the client never finished
// bootstrapping. The error wraps the context's error and says which step
// was waiting.
var ErrNotReady = errors.New("tortest: network not ready")

// ErrExited is returned when a tor process exits while the network is
// starting. The error says which node; its log is in the network directory.
var ErrExited = errors.New("tortest: tor exited")

// SOCKSError is a refusal from tor's SOCKS port (see package
// sandyq/internal/socks). Every SocksPort in this package has the
// ExtendedErrors flag, so Code includes tor's extended codes.
type SOCKSError = socks.Error

// Tor's extended SOCKS5 reply codes (tor manual, SocksPort ExtendedErrors).
const (
	OnionDescNotFound  = socks.OnionDescNotFound
	OnionDescInvalid   = socks.OnionDescInvalid
	OnionIntroFailed   = socks.OnionIntroFailed
	OnionRendFailed    = socks.OnionRendFailed
	OnionMissingAuth   = socks.OnionMissingAuth
	OnionWrongAuth     = socks.OnionWrongAuth
	OnionBadAddress    = socks.OnionBadAddress
	OnionIntroTimedOut = socks.OnionIntroTimedOut
)
