package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// Small submissions: many clients sending a short message each, as fast as
// the server lets them, for a fixed time. sandyq answers with the receipt
// only after the message is committed and fsynced (durable); OnionShare
// writes each message to a file and fsyncs nothing. Refusals (503, "busy,
// try again later": sandyq caps submissions in progress at 32) are
// counted, and the client retries after 10 ms, as an impatient person
// would.

const keySmall = "small"

func (b *bench) small(ctx context.Context) error {
	for run := range b.sz.runs {
		b.logf("small submissions run %d of %d", run+1, b.sz.runs)
		for _, sys := range []string{sysSandyq, sysOnionShare} {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if why, ok := b.tools.why["onionshare-cli"]; ok && sys == sysOnionShare {
				b.res.notMeasured(keySmall+"/"+sys, why)
				continue
			}
			var st smallStats
			var err error
			if sys == sysSandyq {
				st, err = b.smallSandyq(ctx)
			} else {
				st, err = b.smallOnionShare(ctx)
			}
			syscall.Sync()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.res.notMeasured(keySmall+"/"+sys, err.Error())
				b.logf("small %s: %v", sys, err)
				continue
			}
			rate := float64(st.ok) / st.elapsed.Seconds()
			b.res.set(keySmall+"/"+sys+"/rate", run, rate)
			b.res.setMem(keySmall+"/"+sys, run, st.mem)
			b.res.set(keySmall+"/"+sys+"/busy", run, float64(st.busy)/st.elapsed.Seconds())
			b.logf("  %-16s %8.1f messages/s (%d busy answers)  %s", sys, rate, st.busy, st.mem)
		}
	}
	return nil
}

type smallStats struct {
	ok, busy int64
	elapsed  time.Duration
	mem      memPeak
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// message returns the text of a small message: printable, never a
// codename.
func message(n int, seed uint64) string {
	r := mrand.New(mrand.NewPCG(seed, 7))
	const letters = "abcdefghijklmnopqrstuvwxyz      .,"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// hammer runs send from clients goroutines for d, and counts successes
// and refusals; any other error stops it.
func hammer(ctx context.Context, clients int, d time.Duration, send func(ctx context.Context, i int, n int64) error) (smallStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ok, busy atomic.Int64
	stop := time.Now().Add(d)
	begin := time.Now()
	err := parallel(clients, func(i int) error {
		for n := int64(0); time.Now().Before(stop); n++ {
			err := send(ctx, i, n)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, errBusy):
				busy.Add(1)
				if err := sleep(ctx, 10*time.Millisecond); err != nil {
					return err
				}
			default:
				cancel()
				return err
			}
		}
		return nil
	})
	return smallStats{ok: ok.Load(), busy: busy.Load(), elapsed: time.Since(begin)}, err
}

func (b *bench) smallSandyq(ctx context.Context) (smallStats, error) {
	dir, _, err := b.newDataDir(ctx, "small-sandyq", false)
	if err != nil {
		return smallStats{}, err
	}
	defer os.RemoveAll(dir)
	srv, err := b.serveSandyq(ctx, dir, serveOpts{kdfTest: true})
	if err != nil {
		return smallStats{}, err
	}
	defer srv.stop()
	rt := loopbackTransport()
	defer rt.CloseIdleConnections()
	brs, err := sources(ctx, srv.url, rt, b.sz.smallClients, time.Minute)
	if err != nil {
		return smallStats{}, err
	}
	mem, err := watchMemory(srv.pid())
	if err != nil {
		return smallStats{}, err
	}
	st, err := hammer(ctx, b.sz.smallClients, b.sz.smallFor, func(ctx context.Context, i int, n int64) error {
		return brs[i].submit(ctx, part{Name: "message", Value: message(b.sz.smallMsg, uint64(i)<<32|uint64(n))})
	})
	var merr error
	st.mem, merr = mem()
	if err == nil {
		err = merr
	}
	return st, err
}

func (b *bench) smallOnionShare(ctx context.Context) (smallStats, error) {
	data := filepath.Join(b.work, "onionshare-small")
	defer os.RemoveAll(data)
	s, url, err := b.startOnionShare(ctx, data, "")
	if err != nil {
		return smallStats{}, err
	}
	defer s.stop()
	rt := loopbackTransport()
	defer rt.CloseIdleConnections()
	hc := noRedirects(rt, time.Minute)
	if err := waitHTTP(ctx, hc, url+"/", 30*time.Second); err != nil {
		return smallStats{}, err
	}
	mem, err := watchMemory(s.pid())
	if err != nil {
		return smallStats{}, err
	}
	st, err := hammer(ctx, b.sz.smallClients, b.sz.smallFor, func(ctx context.Context, i int, n int64) error {
		return onionShareUpload(ctx, hc, url, part{Name: "text", Value: message(b.sz.smallMsg, uint64(i)<<32|uint64(n))})
	})
	var merr error
	st.mem, merr = mem()
	if err == nil {
		err = merr
	}
	if err == nil {
		if got := countFiles(data); got != st.ok {
			err = fmt.Errorf("OnionShare stored %d messages, answered %d", got, st.ok)
		}
	}
	return st, err
}
