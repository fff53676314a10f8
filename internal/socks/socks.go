// Package socks is a minimal SOCKS5 client (RFC 1928: no authentication,
// CONNECT with a domain name) for talking to tor's SOCKS port, over TCP or a
// unix socket.
//
// It exists, rather than net/http's built-in SOCKS proxy support, for two
// reasons: tor can listen on a unix socket (so sandyq's own tor listens on no
// TCP port at all), and tor's extended reply codes (the SocksPort flag
// ExtendedErrors) tell a descriptor that is not published yet, which is worth
// retrying, from missing client authorization, which is not. Host names are
// always sent to the proxy, never resolved locally.
package socks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Error is a refusal from the SOCKS server. Code is the SOCKS5 reply code,
// including tor's extended codes (0xF0–0xF7).
type Error struct {
	Code byte
}

// Tor's extended SOCKS5 reply codes (tor manual, SocksPort ExtendedErrors).
const (
	OnionDescNotFound  byte = 0xF0 // descriptor not found (yet)
	OnionDescInvalid   byte = 0xF1 // descriptor could not be parsed or verified
	OnionIntroFailed   byte = 0xF2 // every introduction point failed
	OnionRendFailed    byte = 0xF3 // rendezvous failed
	OnionMissingAuth   byte = 0xF4 // client authorization required, none given
	OnionWrongAuth     byte = 0xF5 // client authorization given, refused
	OnionBadAddress    byte = 0xF6 // not a valid onion address
	OnionIntroTimedOut byte = 0xF7 // introduction timed out

	generalFailure  byte = 0x01
	hostUnreachable byte = 0x04
	ttlExpired      byte = 0x06
)

func (e *Error) Error() string {
	return fmt.Sprintf("socks: refused: %s (0x%02X)", reason(e.Code), e.Code)
}

// Transient reports whether the refusal is one a fresh onion service
// produces while its descriptor is still spreading (F0, F2, F3, F7), or a
// generic failure tor gives while circuits are still being built: worth
// retrying until a deadline.
func (e *Error) Transient() bool {
	switch e.Code {
	case OnionDescNotFound, OnionIntroFailed, OnionRendFailed, OnionIntroTimedOut,
		generalFailure, ttlExpired, hostUnreachable:
		return true
	}
	return false
}

func reason(code byte) string {
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

// Dial opens a stream to addr ("host:port"; host may be an onion address)
// through the SOCKS5 server at proxyAddr on proxyNetwork ("tcp" or
// "unix"). A refusal is returned as an *Error.
func Dial(ctx context.Context, proxyNetwork, proxyAddr, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("socks: bad address: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || len(host) == 0 || len(host) > 255 {
		return nil, errors.New("socks: bad address")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, proxyNetwork, proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("socks: connecting to the proxy: %w", err)
	}
	// Bound the handshake by the context: closing the connection unblocks
	// the reads below.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = handshake(conn, host, uint16(port))
	if !stop() {
		conn.Close()
		if err == nil || !errors.As(err, new(*Error)) {
			err = fmt.Errorf("socks: handshake: %w", ctx.Err())
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func handshake(conn net.Conn, host string, port uint16) error {
	// Greeting: version 5, one method, "no authentication".
	if _, err := conn.Write([]byte{5, 1, 0}); err != nil {
		return fmt.Errorf("socks: greeting: %w", err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(conn, sel[:]); err != nil {
		return fmt.Errorf("socks: greeting: %w", err)
	}
	if sel[0] != 5 || sel[1] != 0 {
		return errors.New("socks: the proxy refused the no-authentication method")
	}
	req := make([]byte, 0, 7+len(host))
	req = append(req, 5, 1, 0, 3, byte(len(host)))
	req = append(req, host...)
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("socks: request: %w", err)
	}
	var rep [4]byte
	if _, err := io.ReadFull(conn, rep[:]); err != nil {
		return fmt.Errorf("socks: reply: %w", err)
	}
	if rep[0] != 5 {
		return fmt.Errorf("socks: reply has version %d", rep[0])
	}
	// Read the bound address whatever the outcome, so that the stream is
	// positioned at the payload on success.
	var skip int
	switch rep[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return fmt.Errorf("socks: reply: %w", err)
		}
		skip = int(l[0]) + 2
	default:
		if rep[1] != 0 {
			return &Error{Code: rep[1]}
		}
		return fmt.Errorf("socks: reply has address type %d", rep[3])
	}
	if _, err := io.ReadFull(conn, make([]byte, skip)); err != nil && rep[1] == 0 {
		return fmt.Errorf("socks: reply: %w", err)
	}
	if rep[1] != 0 {
		return &Error{Code: rep[1]}
	}
	return nil
}

// retryPause is the wait between two attempts of DialRetry.
const retryPause = 250 * time.Millisecond

// DialRetry is Dial retried every 250 ms while the proxy answers with a
// transient refusal (see Error.Transient) or is not accepting connections
// yet, until ctx ends. Other refusals (such as F4, missing client
// authorization) are returned at once. When ctx ends, the last refusal is
// returned, wrapped together with the context's error.
func DialRetry(ctx context.Context, proxyNetwork, proxyAddr, addr string) (net.Conn, error) {
	for {
		conn, err := Dial(ctx, proxyNetwork, proxyAddr, addr)
		if err == nil {
			return conn, nil
		}
		var se *Error
		if errors.As(err, &se) && !se.Transient() {
			return nil, err
		}
		t := time.NewTimer(retryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
