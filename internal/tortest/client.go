package tortest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Client is a tor client of a [Network], with a SOCKS port on 127.0.0.1.
type Client struct {
	dir   string
	socks string
	p     *proc
}

// StartClient starts another client of the network, with extra torrc lines
// (for example "ClientOnionAuthDir DIR" to hold v3 client authorization
// keys), and returns once it has bootstrapped. The network closes it too;
// closing it earlier is fine.
func (n *Network) StartClient(ctx context.Context, extra ...string) (*Client, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.n++
	name := fmt.Sprintf("client%d", n.n)
	n.mu.Unlock()
	return n.startClient(ctx, name, ports[0], extra)
}

func (n *Network) startClient(ctx context.Context, name string, port int, extra []string) (*Client, error) {
	dir := filepath.Join(n.dir, name)
	lines := n.nodeLines(name, dir)
	lines = append(lines, "SocksPort 127.0.0.1:"+strconv.Itoa(port)+" ExtendedErrors")
	lines = append(lines, extra...)
	p, err := startTor(n.tor, name, dir, lines)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	c := &Client{dir: dir, socks: "127.0.0.1:" + strconv.Itoa(port), p: p}
	if err := c.waitBootstrapped(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// waitBootstrapped polls the client's log until tor reports 100 %, which it
// does only with a usable consensus and enough descriptors for circuits.
func (c *Client) waitBootstrapped(ctx context.Context) error {
	log := filepath.Join(c.dir, "notice.log")
	for {
		if b, err := os.ReadFile(log); err == nil && bytes.Contains(b, []byte("Bootstrapped 100%")) {
			return nil
		}
		if c.p.exited() {
			return c.p.exitError()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not bootstrap: %w", ErrNotReady, c.p.name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// SocksAddr returns the host:port of the client's SOCKS port. It has the
// ExtendedErrors flag: refusals carry tor's 0xF0–0xF7 codes.
func (c *Client) SocksAddr() string { return c.socks }

// Dial is [DialRetry] through this client.
func (c *Client) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return DialRetry(ctx, c.socks, addr)
}

// HTTPClient is [HTTPClient] through this client.
func (c *Client) HTTPClient(timeout time.Duration) *http.Client {
	return HTTPClient(c.socks, timeout)
}

// Get is [Get] through this client.
func (c *Client) Get(ctx context.Context, url string) (int, []byte, error) {
	return Get(ctx, c.socks, url)
}

// Pid returns the process ID of the client's tor.
func (c *Client) Pid() int { return c.p.pid() }

// Close stops the client's tor (SIGTERM, SIGKILL after 5 s).
func (c *Client) Close() error {
	_, err := c.p.stop()
	return err
}
