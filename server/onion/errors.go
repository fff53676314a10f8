package onion

import "errors"

// ErrNoTor is returned by [Start] when the tor executable cannot be found
// (on PATH, or at [Config.Tor]).
var ErrNoTor = errors.New("onion: tor not found")

// ErrTorExited is returned when tor exits before its control socket is up,
// or is found dead later. Tor's own log (see [Config.Log]) says why.
var ErrTorExited = errors.New("onion: tor exited")

// ErrClosed is returned by methods of a [Tor] or a [Service] after Close.
var ErrClosed = errors.New("onion: closed")

// ErrBadName is returned by [Tor.Publish] and [Tor.RemoveKeys] for a
// service name that is not 1–32 characters of a–z, 0–9 and '-'.
var ErrBadName = errors.New("onion: invalid service name")

// ErrPublished is returned by [Tor.Publish] for a name that is already
// published, and by [Tor.RemoveKeys] for a name that is still published.
var ErrPublished = errors.New("onion: service already published")

// ErrNoClients is returned by [Tor.Publish] when client authorization is
// asked for with no client keys: tor would publish such a service without
// any authorization. (SetClientAuth with no keys withdraws the service.)
var ErrNoClients = errors.New("onion: client authorization without client keys")

// ErrBadClientKey is returned by [ParseClientKey] for anything but a
// base32-encoded 32-byte x25519 public key.
var ErrBadClientKey = errors.New("onion: invalid client authorization key")
