package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ingest: the same uploads into sandyq's web form, OnionShare's receive
// form, a SecureDrop-style gzip + OpenPGP path and age to a file. The four
// run one after the other within each run, so that each ratio compares
// numbers taken a minute apart on the same machine.

// System names, as the tables show them.
const (
	sysSandyq     = "sandyq"
	sysSandyqLow  = "sandyq-lowmem" // with a lower --memory-limit
	sysOnionShare = "OnionShare"
	sysSecureDrop = "SecureDrop-style"
	sysAge        = "age"
	sysStatic     = "static server"
	sysMat2       = "mat2"
)

func (b *bench) ingest(ctx context.Context) error {
	in := filepath.Join(b.work, "in")
	if err := os.MkdirAll(in, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(in)
	b.logf("writing the input files of the file-based baselines")
	single := []string{filepath.Join(in, "single.bin")}
	if err := writeRandom(single[0], b.sz.single, 1); err != nil {
		return err
	}
	var conc []string
	for i := range b.sz.concN {
		p := filepath.Join(in, fmt.Sprintf("conc-%02d.bin", i))
		if err := writeRandom(p, b.sz.conc, uint64(100+i)); err != nil {
			return err
		}
		conc = append(conc, p)
	}
	if b.tools.gpg != "" {
		if err := b.gpgKey(ctx); err != nil {
			b.logf("warning: %v", err)
			b.tools.gpg, b.tools.why["gpg"] = "", "generating the RSA-4096 key failed: "+err.Error()
		}
	}
	syscall.Sync()
	for run := range b.sz.runs {
		b.logf("ingest run %d of %d", run+1, b.sz.runs)
		if err := b.ingestCase(ctx, run, keyIngest1, single); err != nil {
			return err
		}
		if err := b.ingestCase(ctx, run, keyIngestN, conc); err != nil {
			return err
		}
	}
	return nil
}

// ingestCase measures the four systems on one case: len(files) concurrent
// uploads of the files' size each.
func (b *bench) ingestCase(ctx context.Context, run int, key string, files []string) error {
	fi, err := os.Stat(files[0])
	if err != nil {
		return err
	}
	n, size := len(files), fi.Size()
	total := float64(n) * float64(size)
	measure := func(sys string, need string, fn func() (time.Duration, memPeak, error)) {
		if ctx.Err() != nil {
			return
		}
		if why, ok := b.tools.why[need]; ok && need != "" {
			b.res.notMeasured(key+"/"+sys, why)
			return
		}
		el, mem, err := fn()
		syscall.Sync() // what one left in the page cache must not slow the next
		if err != nil {
			if ctx.Err() == nil {
				b.res.notMeasured(key+"/"+sys, err.Error())
				b.logf("%s %s: %v", key, sys, err)
			}
			return
		}
		mbps := total / 1e6 / el.Seconds()
		b.res.set(key+"/"+sys+"/rate", run, mbps)
		b.res.setMem(key+"/"+sys, run, mem)
		b.logf("  %-16s %8.1f MB/s  %s", sys, mbps, mem)
	}
	measure(sysSandyq, "", func() (time.Duration, memPeak, error) { return b.ingestSandyq(ctx, run, n, size, 0) })
	if n > 1 {
		// The same with a lower soft memory limit: how much of the peak
		// is garbage the collector has not yet returned.
		measure(sysSandyqLow, "", func() (time.Duration, memPeak, error) { return b.ingestSandyq(ctx, run, n, size, lowMemLimit) })
	}
	measure(sysOnionShare, "onionshare-cli", func() (time.Duration, memPeak, error) { return b.ingestOnionShare(ctx, run, n, size) })
	measure(sysSecureDrop, "gpg", func() (time.Duration, memPeak, error) { return b.ingestFiles(ctx, files, b.secureDropStyle) })
	measure(sysAge, "age", func() (time.Duration, memPeak, error) { return b.ingestFiles(ctx, files, b.ageToFile) })
	return ctx.Err()
}

// ingestSandyq uploads n files of size bytes at once through the web form
// of a fresh sandyq serve, each from its own source, and returns the time
// from the first byte sent to the last receipt, and the server's peak RSS
// during the uploads.
func (b *bench) ingestSandyq(ctx context.Context, run, n int, size int64, memLimit int) (time.Duration, memPeak, error) {
	dir, _, err := b.newDataDir(ctx, "ingest-sandyq", false)
	if err != nil {
		return 0, memPeak{}, err
	}
	defer os.RemoveAll(dir)
	srv, err := b.serveSandyq(ctx, dir, serveOpts{kdfTest: true, memLimit: memLimit})
	if err != nil {
		return 0, memPeak{}, err
	}
	defer srv.stop()
	rt := loopbackTransport()
	defer rt.CloseIdleConnections()
	brs, err := sources(ctx, srv.url, rt, n, time.Hour)
	if err != nil {
		return 0, memPeak{}, err
	}
	mem, err := watchMemory(srv.pid())
	if err != nil {
		return 0, memPeak{}, err
	}
	begin := time.Now()
	err = parallel(n, func(i int) error {
		return brs[i].submit(ctx, part{Name: "file", Filename: fmt.Sprintf("upload-%02d.bin", i), Size: size, Seed: uint64(run<<16 | i)})
	})
	el := time.Since(begin)
	peak, merr := mem()
	if err == nil {
		err = merr
	}
	return el, peak, err
}

// ingestOnionShare is ingestSandyq for OnionShare's receive mode.
func (b *bench) ingestOnionShare(ctx context.Context, run, n int, size int64) (time.Duration, memPeak, error) {
	data := filepath.Join(b.work, "onionshare-data")
	defer os.RemoveAll(data)
	s, url, err := b.startOnionShare(ctx, data, "")
	if err != nil {
		return 0, memPeak{}, err
	}
	defer s.stop()
	rt := loopbackTransport()
	defer rt.CloseIdleConnections()
	hc := noRedirects(rt, time.Hour)
	if err := waitHTTP(ctx, hc, url+"/", 30*time.Second); err != nil {
		return 0, memPeak{}, err
	}
	mem, err := watchMemory(s.pid())
	if err != nil {
		return 0, memPeak{}, err
	}
	begin := time.Now()
	err = parallel(n, func(i int) error {
		return onionShareUpload(ctx, hc, url, part{Name: "file[]", Filename: fmt.Sprintf("upload-%02d.bin", i), Size: size, Seed: uint64(run<<16 | i)})
	})
	el := time.Since(begin)
	peak, merr := mem()
	if err == nil {
		err = merr
	}
	if err != nil {
		return 0, memPeak{}, err
	}
	if got, want := dirBytes(data), int64(n)*size; got != want {
		return 0, memPeak{}, fmt.Errorf("OnionShare stored %d bytes, want %d", got, want)
	}
	return el, peak, nil
}

// ingestFiles runs one file-based pipeline per input file, all at once,
// and returns the wall time and the sum of the processes' peak RSS (an
// upper bound of what they held together).
func (b *bench) ingestFiles(ctx context.Context, files []string, fn func(context.Context, string, string) (int64, error)) (time.Duration, memPeak, error) {
	out := filepath.Join(b.work, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return 0, memPeak{}, err
	}
	defer os.RemoveAll(out)
	peaks := make([]int64, len(files))
	begin := time.Now()
	err := parallel(len(files), func(i int) error {
		p, err := fn(ctx, files[i], out)
		peaks[i] = p
		return err
	})
	el := time.Since(begin)
	var sum int64
	for _, p := range peaks {
		if p <= 0 {
			return el, memPeak{hwm: -1, anon: -1}, err
		}
		sum += p
	}
	return el, memPeak{hwm: sum, anon: -1}, err
}

// secureDropStyle is what SecureDrop's server does with a received file,
// with public tools: gzip -9 into a temporary file, then OpenPGP
// encryption of that file to the newsroom's RSA-4096 key (gpg sees gzip
// data and adds no compression of its own), then fsync of the result.
// (SecureDrop also encrypts its temporary file with a throwaway AES key;
// leaving that out makes this path faster than the real one.)
func (b *bench) secureDropStyle(ctx context.Context, in, outDir string) (int64, error) {
	gz := filepath.Join(outDir, filepath.Base(in)+".gz")
	f, err := os.Create(gz)
	if err != nil {
		return 0, err
	}
	r1, err := b.procs.run(ctx, runOpts{Stdout: f}, b.tools.gzip, "-9", "-c", in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	out := filepath.Join(outDir, filepath.Base(in)+".gpg")
	r2, err := b.procs.run(ctx, runOpts{}, b.tools.gpg, "--homedir", b.gnupg, "--no-autostart", "--batch", "--yes",
		"--trust-model", "always", "--recipient", "bench@sandyq.invalid", "--output", out, "--encrypt", gz)
	if err != nil {
		return 0, err
	}
	if err := fsyncFile(out); err != nil {
		return 0, err
	}
	os.Remove(gz)
	if r1.PeakRSS <= 0 || r2.PeakRSS <= 0 {
		return 0, nil // unknown
	}
	return max(r1.PeakRSS, r2.PeakRSS), nil
}

// ageToFile encrypts in with the age command to the same post-quantum
// recipient sandyq encrypts to, then fsyncs the result: the floor.
func (b *bench) ageToFile(ctx context.Context, in, outDir string) (int64, error) {
	out := filepath.Join(outDir, filepath.Base(in)+".age")
	r, err := b.procs.run(ctx, runOpts{}, b.tools.age, "-r", b.keys.recipient, "-o", out, in)
	if err != nil {
		return 0, err
	}
	return r.PeakRSS, fsyncFile(out)
}

// fsyncFile flushes a file to disk, as sandyq's store does at each commit.
func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// parallel runs fn(0) … fn(n-1) at once and joins their errors.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return firstErrors(errs)
}

// firstErrors joins at most three distinct errors and says how many more
// there were: 32 uploads failing the same way make one line, not 32.
func firstErrors(errs []error) error {
	var out []error
	seen := map[string]bool{}
	more := 0
	for _, e := range errs {
		if e == nil {
			continue
		}
		if s := e.Error(); !seen[s] {
			seen[s] = true
			if len(out) < 3 {
				out = append(out, e)
				continue
			}
		}
		more++
	}
	if more > 0 {
		out = append(out, fmt.Errorf("and %d more errors", more))
	}
	return errors.Join(out...)
}

// lowMemLimit is the --memory-limit, in MiB, of the second sandyq row of
// the concurrent uploads (the default is 256).
const lowMemLimit = 64

// keys of the ingest results.
const (
	keyIngest1 = "ingest1"
	keyIngestN = "ingestN"
)

// oneLine flattens a multi-line error for a table cell.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
