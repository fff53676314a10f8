package tortest

import (
	"errors"
	"fmt"
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

// SOCKSError is a refusal from tor's SOCKS port. Code is the SOCKS5 reply
// code, including tor's extended codes (0xF0–0xF7), which tor sends because
// every SocksPort in this package has the ExtendedErrors flag.
type SOCKSError struct {
	Code byte
}

// Tor's extended SOCKS5 reply codes (tor manual, SocksPort ExtendedErrors).
const (
	OnionDescNotFound    byte = 0xF0 // descriptor not found (yet)
	OnionDescInvalid     byte = 0xF1 // descriptor could not be parsed or verified
	OnionIntroFailed     byte = 0xF2 // every introduction point failed
	OnionRendFailed      byte = 0xF3 // rendezvous failed
	OnionMissingAuth     byte = 0xF4 // client authorization required, none given
	OnionWrongAuth       byte = 0xF5 // client authorization given, refused
	OnionBadAddress      byte = 0xF6 // not a valid onion address
	OnionIntroTimedOut   byte = 0xF7 // introduction timed out
	socksGeneralFailure  byte = 0x01
	socksTTLExpired      byte = 0x06
	socksHostUnreachable byte = 0x04
)

func (e *SOCKSError) Error() string {
	return fmt.Sprintf("tortest: socks refused: %s (0x%02X)", socksReason(e.Code), e.Code)
}

// Transient reports whether the refusal is one a fresh onion service
// produces while its descriptor is still spreading (F0, F2, F3, F7), or a
// generic failure tor gives while circuits are still being built: worth
// retrying until a deadline.
func (e *SOCKSError) Transient() bool {
	switch e.Code {
	case OnionDescNotFound, OnionIntroFailed, OnionRendFailed, OnionIntroTimedOut,
		socksGeneralFailure, socksTTLExpired, socksHostUnreachable:
		return true
	}
	return false
}

func socksReason(code byte) string {
	switch code {
	case 0x01:
		return "general failure"
	case 0x02:
		return "not allowed by ruleset"
	case 0x03:
		return "network unreachable"
	case 0x04:
		return "host unreachable"
	case 0x05:
		return "connection refused"
	case 0x06:
		return "TTL expired"
	case 0x07:
		return "command not supported"
	case 0x08:
		return "address type not supported"
	case OnionDescNotFound:
		return "onion descriptor not found"
	case OnionDescInvalid:
		return "onion descriptor invalid"
	case OnionIntroFailed:
		return "onion introduction failed"
	case OnionRendFailed:
		return "onion rendezvous failed"
	case OnionMissingAuth:
		return "onion client authorization missing"
	case OnionWrongAuth:
		return "onion client authorization wrong"
	case OnionBadAddress:
		return "bad onion address"
	case OnionIntroTimedOut:
		return "onion introduction timed out"
	}
	return "unknown reply"
}
