package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Login: sandyq serve at its default Argon2id cost (no --kdf-test). Each
// run has two phases, each on a freshly started server so that the rate
// limits start full: first a fixed number of logins from 8 clients, timed
// (the rate), then 100 attempts released at the same moment, with the
// server's peak RSS read at the end and every answer counted (the server
// runs at most 2 derivations at once and refuses beyond its per-minute
// login budget with 503).

const keyLogin = "login"

func (b *bench) login(ctx context.Context) error {
	dir, _, err := b.newDataDir(ctx, "login-sandyq", false)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// One source, made through the pages at the default cost.
	srv, err := b.serveSandyq(ctx, dir, serveOpts{})
	if err != nil {
		return err
	}
	rt := loopbackTransport()
	defer rt.CloseIdleConnections()
	name, err := newBrowser(srv.url, rt, time.Minute).newCodename(ctx)
	srv.stop()
	if err != nil {
		return err
	}

	for run := range b.sz.runs {
		b.logf("login run %d of %d", run+1, b.sz.runs)
		rate, err := b.loginRate(ctx, dir, name, rt)
		if err != nil {
			return err
		}
		b.res.set(keyLogin+"/rate", run, rate)
		st, err := b.loginBurst(ctx, dir, name, rt)
		if err != nil {
			return err
		}
		b.res.setMem(keyLogin, run, st.mem)
		b.res.set(keyLogin+"/accepted", run, float64(st.ok))
		b.res.set(keyLogin+"/refused", run, float64(st.busy))
		b.res.set(keyLogin+"/burstTime", run, st.elapsed.Seconds())
		b.logf("  %.1f logins/s; %d concurrent attempts: %d logged in, %d refused (busy) in %.1f s, %s",
			rate, b.sz.loginConc, st.ok, st.busy, st.elapsed.Seconds(), st.mem)
	}
	return nil
}

// loginRate times b.sz.logins logins from 8 clients on a fresh server.
func (b *bench) loginRate(ctx context.Context, dir, name string, rt http.RoundTripper) (float64, error) {
	srv, err := b.serveSandyq(ctx, dir, serveOpts{})
	if err != nil {
		return 0, err
	}
	defer srv.stop()
	const clients = 8
	var next atomic.Int64
	begin := time.Now()
	err = parallel(clients, func(int) error {
		for next.Add(1) <= int64(b.sz.logins) {
			if err := newBrowser(srv.url, rt, time.Minute).login(ctx, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(b.sz.logins) / time.Since(begin).Seconds(), nil
}

// loginBurst releases b.sz.loginConc login attempts at once on a fresh
// server (each has fetched its form first) and returns how many got in,
// how many were refused, and the server's peak RSS.
func (b *bench) loginBurst(ctx context.Context, dir, name string, rt http.RoundTripper) (smallStats, error) {
	srv, err := b.serveSandyq(ctx, dir, serveOpts{})
	if err != nil {
		return smallStats{}, err
	}
	defer srv.stop()
	n := b.sz.loginConc
	toks := make([]string, n)
	brs := make([]*browser, n)
	for i := range n {
		brs[i] = newBrowser(srv.url, rt, 2*time.Minute)
		if toks[i], err = brs[i].pageCSRF(ctx, "/en/login"); err != nil {
			return smallStats{}, err
		}
	}
	mem, err := watchMemory(srv.pid())
	if err != nil {
		return smallStats{}, err
	}
	var ok, busy atomic.Int64
	attempt := func(i int) error {
		status, _, _, err := brs[i].postForm(ctx, "/en/login", url.Values{"csrf": {toks[i]}, "codename": {name}})
		switch {
		case err != nil:
			return err
		case status == http.StatusSeeOther:
			ok.Add(1)
		case status == http.StatusServiceUnavailable:
			busy.Add(1)
		default:
			return fmt.Errorf("POST /en/login: status %d", status)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	release := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			errs[i] = attempt(i)
		}()
	}
	begin := time.Now()
	close(release)
	wg.Wait()
	err = firstErrors(errs)
	el := time.Since(begin)
	if err != nil {
		return smallStats{}, err
	}
	peak, err := mem()
	return smallStats{ok: ok.Load(), busy: busy.Load(), elapsed: el, mem: peak}, err
}
