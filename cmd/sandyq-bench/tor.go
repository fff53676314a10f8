package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sandyq/internal/tortest"
)

// Over Tor: a private Tor network on 127.0.0.1 (sandyq/internal/tortest:
// 3 directory authorities, 3 relays, a client), three onion services on it
// — sandyq serve's own, OnionShare's (onionshare-cli told to use a tor of
// the network through its control port) and a plain HTTP server that
// discards what it receives (the ceiling: Tor's own cost) — and the same
// upload to each through the network's client, one after the other within
// each run.

const keyTor = "tor"

func (b *bench) overTor(ctx context.Context) error {
	if why, ok := b.tools.why["tor"]; ok {
		return fmt.Errorf("%s (apt-get install tor)", why)
	}
	if why, ok := b.tools.why["tor-gencert"]; ok {
		return fmt.Errorf("%s (apt-get install tor)", why)
	}
	b.logf("starting a private Tor network")
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	n, err := tortest.Start(sctx, tortest.Options{Dir: b.work, Relays: 3})
	cancel()
	if err != nil {
		return fmt.Errorf("starting the private Tor network: %w", err)
	}
	b.netMu.Lock()
	b.nets = append(b.nets, n)
	b.netMu.Unlock()
	defer func() {
		b.netMu.Lock()
		b.nets = nil
		b.netMu.Unlock()
		n.Close()
	}()
	torrc := filepath.Join(b.work, "testnet.torrc")
	lines := append(n.TorrcLines(), freshPaths...)
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	// The uploads go through a client of their own, whose circuits are
	// new at every run (see freshPaths).
	client, err := n.StartClient(ctx, append(freshPaths, "MaxCircuitDirtiness 30")...)
	if err != nil {
		return fmt.Errorf("starting the uploading tor client: %w", err)
	}
	defer client.Close()

	type target struct {
		sys    string
		url    string // base URL: the onion, no final slash
		page   string // a page that answers 200
		upload func(ctx context.Context, run int) error
	}
	var targets []target

	// sandyq serve with its own tor (bine), joined to the network.
	b.logf("publishing sandyq's onion service")
	dir, _, err := b.newDataDir(ctx, "tor-sandyq", false)
	if err != nil {
		return err
	}
	srv, err := b.serveSandyq(ctx, dir, serveOpts{kdfTest: true, torrc: torrc})
	if err != nil {
		b.res.notMeasured(keyTor+"/"+sysSandyq, err.Error())
	} else {
		defer srv.stop()
		var br *browser
		err := waitOnion(ctx, client, srv.url+"/en/")
		if err == nil {
			br = newBrowser(srv.url, torTransport(client), 30*time.Minute)
			_, err = br.newCodename(ctx)
		}
		if err != nil {
			b.res.notMeasured(keyTor+"/"+sysSandyq, err.Error())
		} else {
			targets = append(targets, target{sysSandyq, srv.url, "/en/", func(ctx context.Context, run int) error {
				return br.submit(ctx, part{Name: "file", Filename: "upload.bin", Size: b.sz.tor, Seed: uint64(run)})
			}})
		}
	}

	// OnionShare, through the control port of a tor of the network.
	if why, ok := b.tools.why["onionshare-cli"]; ok {
		b.res.notMeasured(keyTor+"/"+sysOnionShare, why)
	} else {
		b.logf("publishing OnionShare's onion service")
		url, stop, err := b.onionShareOverTor(ctx, n, client)
		if err != nil {
			b.res.notMeasured(keyTor+"/"+sysOnionShare, err.Error())
			b.logf("OnionShare over Tor: %v", err)
		} else {
			defer stop()
			hc := noRedirects(torTransport(client), 30*time.Minute)
			targets = append(targets, target{sysOnionShare, url, "/", func(ctx context.Context, run int) error {
				return onionShareUpload(ctx, hc, url, part{Name: "file[]", Filename: "upload.bin", Size: b.sz.tor, Seed: uint64(run)})
			}})
		}
	}

	// The ceiling: a plain HTTP server behind a tor's HiddenServiceDir.
	b.logf("publishing the static server's onion service")
	url, stop, err := b.staticOverTor(ctx, n, client)
	if err != nil {
		b.res.notMeasured(keyTor+"/"+sysStatic, err.Error())
	} else {
		defer stop()
		hc := noRedirects(torTransport(client), 30*time.Minute)
		targets = append(targets, target{sysStatic, url, "/", func(ctx context.Context, run int) error {
			body, size := formBody(part{Name: "file", Filename: "upload.bin", Size: b.sz.tor, Seed: uint64(run)})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/upload", body())
			req.ContentLength = size
			req.Header.Set("Content-Type", multipartType)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				return fmt.Errorf("POST /upload: status %d", resp.StatusCode)
			}
			return nil
		}})
	}

	for run := range b.sz.torRuns {
		b.logf("over Tor run %d of %d", run+1, b.sz.torRuns)
		// Each run starts with another target, so that none always comes
		// first (the network warms up, other workers come and go).
		for k := range targets {
			t := targets[(run+k)%len(targets)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A first request builds the rendezvous circuit, outside the
			// timing, for every target alike.
			if err := waitOnion(ctx, client, t.url+t.page); err != nil {
				b.res.notMeasured(keyTor+"/"+t.sys, err.Error())
				continue
			}
			begin := time.Now()
			err := t.upload(ctx, run)
			el := time.Since(begin)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.res.notMeasured(keyTor+"/"+t.sys, err.Error())
				b.logf("over Tor %s: %v", t.sys, err)
				continue
			}
			mbps := float64(b.sz.tor) / 1e6 / el.Seconds()
			b.res.set(keyTor+"/"+t.sys+"/rate", run, mbps)
			b.logf("  %-16s %8.2f MB/s", t.sys, mbps)
		}
	}
	return nil
}

// freshPaths are torrc lines for every tor of the comparison: no entry
// guards and no vanguards, so that each circuit takes a new random path
// through the network's six relays. With the defaults, each tor keeps the
// guards it picked at start for the whole session, and an onion whose
// tor happened to pick a busy relay (a directory authority voting every
// ten seconds, say) stays slow in every run: a bias of its own, not of
// its server. The uploading client's MaxCircuitDirtiness of 30 s makes
// every run, a minute or more after the last one to the same onion,
// build a new rendezvous circuit. (Tor warns that an onion service
// without entry guards is easy to locate: fine on a private test
// network, never in production.)
var freshPaths = []string{"UseEntryGuards 0", "VanguardsLiteEnabled 0"}

// torTransport sends requests through a tor client, a fresh stream each
// (tortest's transport: keep-alives off, retries while a descriptor is
// not there yet).
func torTransport(c *tortest.Client) http.RoundTripper {
	return c.HTTPClient(0).Transport
}

// waitOnion waits until a page of an onion service answers.
func waitOnion(ctx context.Context, c *tortest.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	status, _, err := c.Get(ctx, url)
	if err != nil {
		return fmt.Errorf("reaching %s over Tor: %w", url, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("reaching %s over Tor: status %d", url, status)
	}
	return nil
}

// onionShareOverTor starts a tor of the network with a control port, and
// onionshare-cli in receive mode using it (connection_type control_port in
// a settings file given with --config: OnionShare publishes its ephemeral
// onion service with ADD_ONION on that tor).
func (b *bench) onionShareOverTor(ctx context.Context, n *tortest.Network, client *tortest.Client) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	c, err := n.StartClient(ctx, append([]string{"ControlPort 127.0.0.1:" + strconv.Itoa(port)}, freshPaths...)...)
	if err != nil {
		return "", nil, fmt.Errorf("starting the tor for OnionShare: %w", err)
	}
	settings := filepath.Join(b.work, "onionshare-settings.json")
	if err := onionShareSettings(settings, port); err != nil {
		c.Close()
		return "", nil, err
	}
	data := filepath.Join(b.work, "onionshare-tor")
	s, url, err := b.startOnionShare(ctx, data, settings)
	if err != nil {
		c.Close()
		return "", nil, err
	}
	stop := func() {
		s.stop()
		c.Close()
		os.RemoveAll(data)
	}
	if err := waitOnion(ctx, client, url+"/"); err != nil {
		stop()
		return "", nil, err
	}
	return url, stop, nil
}

// staticOverTor serves a static page (GET) and a sink (POST: the body is
// read and thrown away, then a 303 as a form would get) on loopback, and
// publishes it with HiddenServiceDir on a tor of the network.
func (b *bench) staticOverTor(ctx context.Context, n *tortest.Network, client *tortest.Client) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		ReadHeaderTimeout: 30 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				io.Copy(io.Discard, r.Body)
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<!doctype html><title>static</title><p>static page</p>\n")
		}),
	}
	go srv.Serve(ln)
	hs := filepath.Join(b.work, "static-hs")
	c, err := n.StartClient(ctx, append([]string{"HiddenServiceDir " + hs, "HiddenServicePort 80 " + ln.Addr().String()}, freshPaths...)...)
	if err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("starting the tor of the static server: %w", err)
	}
	stop := func() {
		c.Close()
		srv.Close()
	}
	host, err := os.ReadFile(filepath.Join(hs, "hostname"))
	if err != nil {
		stop()
		return "", nil, err
	}
	url := "http://" + strings.TrimSpace(string(host))
	if err := waitOnion(ctx, client, url+"/"); err != nil {
		stop()
		return "", nil, err
	}
	return url, stop, nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
