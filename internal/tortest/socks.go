package tortest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// retryPause is the wait between two attempts of [DialRetry].
const retryPause = 250 * time.Millisecond

// DialSOCKS opens a TCP stream to addr ("host:port", host may be an onion
// address) through tor's SOCKS5 port at socksAddr, with no SOCKS
// authentication. A refusal by tor is returned as a *[SOCKSError].
//
// This is a minimal SOCKS5 client (RFC 1928, CONNECT with a domain name)
// written for tests: it exposes tor's extended reply codes, which is what
// the tests assert on.
func DialSOCKS(ctx context.Context, socksAddr, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tortest: bad address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || len(host) == 0 || len(host) > 255 {
		return nil, fmt.Errorf("tortest: bad address %q", addr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", socksAddr)
	if err != nil {
		return nil, fmt.Errorf("tortest: connecting to socks port: %w", err)
	}
	// Bound the handshake by the context: closing the connection unblocks
	// the reads below.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = socksHandshake(conn, host, uint16(port))
	if !stop() {
		conn.Close()
		if err == nil || !errors.As(err, new(*SOCKSError)) {
			err = fmt.Errorf("tortest: socks handshake: %w", ctx.Err())
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func socksHandshake(conn net.Conn, host string, port uint16) error {
	// Greeting: version 5, one method, "no authentication".
	if _, err := conn.Write([]byte{5, 1, 0}); err != nil {
		return fmt.Errorf("tortest: socks greeting: %w", err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(conn, sel[:]); err != nil {
		return fmt.Errorf("tortest: socks greeting: %w", err)
	}
	if sel[0] != 5 || sel[1] != 0 {
		return fmt.Errorf("tortest: socks server refused the no-auth method")
	}
	req := make([]byte, 0, 7+len(host))
	req = append(req, 5, 1, 0, 3, byte(len(host)))
	req = append(req, host...)
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("tortest: socks request: %w", err)
	}
	var rep [4]byte
	if _, err := io.ReadFull(conn, rep[:]); err != nil {
		return fmt.Errorf("tortest: socks reply: %w", err)
	}
	if rep[0] != 5 {
		return fmt.Errorf("tortest: socks reply has version %d", rep[0])
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
			return fmt.Errorf("tortest: socks reply: %w", err)
		}
		skip = int(l[0]) + 2
	default:
		if rep[1] != 0 {
			return &SOCKSError{Code: rep[1]}
		}
		return fmt.Errorf("tortest: socks reply has address type %d", rep[3])
	}
	if _, err := io.ReadFull(conn, make([]byte, skip)); err != nil && rep[1] == 0 {
		return fmt.Errorf("tortest: socks reply: %w", err)
	}
	if rep[1] != 0 {
		return &SOCKSError{Code: rep[1]}
	}
	return nil
}

// DialRetry is [DialSOCKS] retried every 250 ms while tor answers with a
// transient refusal (see [SOCKSError.Transient]: a descriptor that is not
// there yet, introduction or rendezvous failures) or while the SOCKS port
// itself is not accepting yet, until ctx ends. Other refusals (such as F4,
// missing client authorization) are returned at once. When ctx ends, the
// last refusal is returned, wrapped together with the context's error.
func DialRetry(ctx context.Context, socksAddr, addr string) (net.Conn, error) {
	for {
		conn, err := DialSOCKS(ctx, socksAddr, addr)
		if err == nil {
			return conn, nil
		}
		var se *SOCKSError
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

// HTTPClient returns an HTTP client whose connections go through tor's
// SOCKS port at socksAddr with [DialRetry]: a request to a fresh onion
// service waits for its descriptor instead of failing. The timeout bounds
// each whole request, retries included. Keep-alives are off, so every
// request builds a new stream (and a client that lost its authorization is
// refused at once).
func HTTPClient(socksAddr string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if network != "tcp" && network != "tcp4" {
					return nil, fmt.Errorf("tortest: network %q not supported", network)
				}
				return DialRetry(ctx, socksAddr, addr)
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxBody caps what [Get] reads: tests fetch small pages.
const maxBody = 1 << 20

// Get fetches url through tor's SOCKS port at socksAddr, retrying as
// [DialRetry] does until ctx ends, and returns the status code and at most
// 1 MiB of the body. Unlike a request through [HTTPClient], a failure to
// connect reports tor's last refusal (a *[SOCKSError], for errors.As).
func Get(ctx context.Context, socksAddr, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("tortest: building request: %w", err)
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	if req.URL.Scheme != "http" {
		return 0, nil, fmt.Errorf("tortest: only http URLs, not %q", req.URL.Scheme)
	}
	conn, err := DialRetry(ctx, socksAddr, net.JoinHostPort(req.URL.Hostname(), port))
	if err != nil {
		return 0, nil, err
	}
	used := false
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("tortest: one connection per Get")
			}
			used = true
			return conn, nil
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		conn.Close()
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("tortest: reading body: %w", err)
	}
	return resp.StatusCode, body, nil
}
