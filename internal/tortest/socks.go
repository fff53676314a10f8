package tortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"sandyq/internal/socks"
)

// DialSOCKS opens a TCP stream to addr ("host:port", host may be an onion
// address) through tor's SOCKS5 port at socksAddr. A refusal by tor is
// returned as a *[SOCKSError].
func DialSOCKS(ctx context.Context, socksAddr, addr string) (net.Conn, error) {
	return socks.Dial(ctx, "tcp", socksAddr, addr)
}

// DialRetry is [DialSOCKS] retried every 250 ms while tor answers with a
// transient refusal (see [SOCKSError.Transient]: a descriptor that is not
// there yet, introduction or rendezvous failures) or while the SOCKS port
// itself is not accepting yet, until ctx ends. Other refusals (such as F4,
// missing client authorization) are returned at once.
func DialRetry(ctx context.Context, socksAddr, addr string) (net.Conn, error) {
	return socks.DialRetry(ctx, "tcp", socksAddr, addr)
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
