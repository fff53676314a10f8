package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sandyq/client/bundle"
	"sandyq/crypto/sign"
)

// Offline: what the journalist's air-gapped laptop does. A real server
// receives a large file and a corpus of photos and documents through the
// web form; "sandyq fetch" gets them as bundles; then, with no server
// running, "sandyq-client open" of the large bundle is timed against "age
// -d" of the same item's bytes, and "sandyq-client export --scrub" of the
// corpus against mat2, with exiftool counting what each leaves.

const (
	keyOpen  = "open"
	keyScrub = "scrub"
)

func (b *bench) offline(ctx context.Context) error {
	dir, inst, err := b.newDataDir(ctx, "offline-sandyq", true)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if inst == "" {
		return errors.New("sandyq init printed no instance key")
	}
	corpusDir := filepath.Join(b.work, "corpus")
	var corpus []corpusFile
	var corpusErr error
	if why, ok := b.tools.why["exiftool"]; ok {
		corpusErr = errors.New(why)
	} else {
		b.logf("making the corpus of photos and documents")
		corpus, corpusErr = b.makeCorpus(ctx, corpusDir)
	}
	defer b.tidy(corpusDir)

	// The server receives the large file, then the corpus; a fetch after
	// each makes one bundle of each.
	srv, err := b.serveSandyq(ctx, dir, serveOpts{kdfTest: true, journalist: true})
	if err != nil {
		return err
	}
	defer srv.stop()
	rt := loopbackTransport()
	defer rt.CloseIdleConnections()
	br := newBrowser(srv.url, rt, time.Hour)
	if _, err := br.newCodename(ctx); err != nil {
		return err
	}
	b.logf("uploading %s and fetching it as a bundle", sizeName(b.sz.open))
	if err := br.submit(ctx, part{Name: "file", Filename: "large.bin", Size: b.sz.open, Seed: 99}); err != nil {
		return err
	}
	bigBundle := filepath.Join(b.work, "large.sqb")
	if err := b.fetch(ctx, srv.jurl, bigBundle); err != nil {
		return err
	}
	defer os.Remove(bigBundle)
	corpusBundle := filepath.Join(b.work, "corpus.sqb")
	if corpusErr == nil {
		parts := make([]part, len(corpus))
		for i, c := range corpus {
			data, err := os.ReadFile(c.path)
			if err != nil {
				return err
			}
			parts[i] = part{Name: "file", Filename: c.name, Data: data}
		}
		if corpusErr = br.submit(ctx, parts...); corpusErr == nil {
			corpusErr = b.fetch(ctx, srv.jurl, corpusBundle)
		}
		defer b.tidy(corpusBundle)
	}
	srv.stop()
	os.RemoveAll(dir)

	if err := b.openRuns(ctx, bigBundle, inst); err != nil {
		if ctx.Err() != nil {
			return err
		}
		b.res.notMeasured(keyOpen, err.Error())
	}
	if corpusErr == nil {
		corpusErr = b.scrubRuns(ctx, corpusBundle, inst, corpus)
	}
	if corpusErr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.res.notMeasured(keyScrub, corpusErr.Error())
	}
	return nil
}

// fetch runs "sandyq fetch" against the journalist API in development mode.
func (b *bench) fetch(ctx context.Context, jurl, out string) error {
	_, err := b.procs.run(ctx, runOpts{}, b.tools.sandyq, "fetch", "--dev", "--server", jurl,
		"--access-key", b.keys.accessKey, "-o", out)
	return err
}

// openRuns times sandyq-client open of the bundle against age -d of its
// item's bytes, both ending with the plaintext fsynced to disk.
func (b *bench) openRuns(ctx context.Context, bundlePath, inst string) error {
	if why, ok := b.tools.why["age"]; ok {
		b.res.notMeasured(keyOpen+"/"+sysAge, why)
	}
	item := filepath.Join(b.work, "item.age")
	if err := extractItem(bundlePath, inst, item); err != nil {
		return fmt.Errorf("extracting the item from the bundle: %w", err)
	}
	defer os.Remove(item)
	syscall.Sync()
	size := float64(b.sz.open)
	for run := range b.sz.runs {
		b.logf("offline open run %d of %d", run+1, b.sz.runs)
		vault := filepath.Join(b.work, "vault-open")
		r, err := b.procs.run(ctx, runOpts{}, b.tools.client, "open", "-i", b.keys.identity, "-o", vault,
			"--instance-key", inst, bundlePath)
		os.RemoveAll(vault)
		syscall.Sync()
		if err != nil {
			return err
		}
		mbps := size / 1e6 / r.Elapsed.Seconds()
		b.res.set(keyOpen+"/"+sysSandyq+"/rate", run, mbps)
		b.res.setMem(keyOpen+"/"+sysSandyq, run, memPeak{hwm: r.PeakRSS, anon: -1})
		b.logf("  %-16s %8.1f MB/s  %s", "sandyq-client", mbps, memPeak{hwm: r.PeakRSS, anon: -1})
		if b.tools.age == "" {
			continue
		}
		out := filepath.Join(b.work, "age-out.bin")
		begin := time.Now()
		r, err = b.procs.run(ctx, runOpts{}, b.tools.age, "-d", "-i", b.keys.identity, "-o", out, item)
		if err == nil {
			err = fsyncFile(out)
		}
		el := time.Since(begin)
		os.Remove(out)
		syscall.Sync()
		if err != nil {
			return err
		}
		mbps = size / 1e6 / el.Seconds()
		b.res.set(keyOpen+"/"+sysAge+"/rate", run, mbps)
		b.res.setMem(keyOpen+"/"+sysAge, run, memPeak{hwm: r.PeakRSS, anon: -1})
		b.logf("  %-16s %8.1f MB/s  %s", "age -d", mbps, memPeak{hwm: r.PeakRSS, anon: -1})
	}
	return nil
}

// extractItem writes the largest item of a submissions bundle, exactly as
// stored (a standard age file), to out, after checking the bundle's
// signature against the instance key and the item's SHA-256.
func extractItem(bundlePath, inst, out string) error {
	key, err := sign.ParsePublicKey(inst, sign.Instance)
	if err != nil {
		return err
	}
	f, err := os.Open(bundlePath)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := bundle.NewReader(bufio.NewReaderSize(f, 1<<20), bundle.Submissions, bundle.TrustKeys(key),
		&bundle.ReaderOptions{MaxTotalSize: 1 << 40})
	if err != nil {
		return err
	}
	var largest int64 = -1
	for {
		e, item, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if e.Size <= largest {
			if _, err := io.Copy(io.Discard, item); err != nil {
				return err
			}
			continue
		}
		largest = e.Size
		w, err := os.Create(out)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, item)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if largest < 0 {
		return errors.New("the bundle holds no item")
	}
	return nil
}

// vaultItem is one line of "sandyq-client list".
type vaultItem struct{ id, kind, name string }

// parseList reads the output of "sandyq-client list": tab-separated
// ITEM-ID SOURCE KIND SEQ DATE SIZE NAME lines, and "#" summary lines.
func parseList(out string) ([]vaultItem, error) {
	var items []vaultItem
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("unexpected list line %q", line)
		}
		name := f[6]
		if u, err := strconv.Unquote(name); err == nil {
			name = u
		}
		items = append(items, vaultItem{id: f[0], kind: f[2], name: name})
	}
	return items, nil
}

// scrubRuns opens the corpus bundle, then, in each run, exports every
// corpus file with --scrub and cleans a copy of the original with mat2,
// timing both; the tags left are counted after the last run.
func (b *bench) scrubRuns(ctx context.Context, bundlePath, inst string, corpus []corpusFile) error {
	vault := filepath.Join(b.work, "vault-corpus")
	defer b.tidy(vault)
	if _, err := b.procs.run(ctx, runOpts{}, b.tools.client, "open", "-i", b.keys.identity, "-o", vault,
		"--instance-key", inst, bundlePath); err != nil {
		return err
	}
	r, err := b.procs.run(ctx, runOpts{}, b.tools.client, "list", vault)
	if err != nil {
		return err
	}
	items, err := parseList(r.Stdout)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, it := range items {
		ids[it.name] = it.id
	}
	sres := &scrubResult{files: make([]scrubFile, len(corpus))}
	outS, outM := filepath.Join(b.work, "scrub-sandyq"), filepath.Join(b.work, "scrub-mat2")
	defer b.tidy(outS)
	defer b.tidy(outM)
	for run := range b.sz.runs {
		b.logf("scrub run %d of %d", run+1, b.sz.runs)
		os.RemoveAll(outS)
		os.RemoveAll(outM)
		if err := os.MkdirAll(outM, 0o700); err != nil {
			return err
		}
		var tS, tM time.Duration
		for i, c := range corpus {
			sf := &sres.files[i]
			sf.name, sf.kind = c.name, c.kind
			id, ok := ids[c.name]
			if !ok {
				return fmt.Errorf("%s is not in the vault", c.name)
			}
			r, err := b.procs.run(ctx, runOpts{}, b.tools.client, "export", "--scrub", vault, id, "-o", outS)
			if err != nil {
				return err
			}
			tS += r.Elapsed
			sf.sandyqPath = strings.TrimSpace(r.Stdout)
			sf.sandyqNote = scrubNote(r.Stderr)
			if b.tools.mat2 == "" {
				continue
			}
			cp := filepath.Join(outM, c.name)
			if err := copyFile(c.path, cp); err != nil {
				return err
			}
			r, err = b.procs.run(ctx, runOpts{}, b.tools.mat2, cp)
			tM += r.Elapsed
			ext := filepath.Ext(c.name)
			sf.mat2Path = strings.TrimSuffix(cp, ext) + ".cleaned" + ext
			sf.mat2Err = ""
			if err != nil {
				sf.mat2Path, sf.mat2Err = "", oneLine(err.Error())
			}
		}
		b.res.set(keyScrub+"/"+sysSandyq+"/time", run, tS.Seconds())
		if b.tools.mat2 != "" {
			b.res.set(keyScrub+"/"+sysMat2+"/time", run, tM.Seconds())
		}
		b.logf("  corpus of %d files: sandyq-client %.2f s, mat2 %.2f s", len(corpus), tS.Seconds(), tM.Seconds())
	}
	if b.tools.mat2 == "" {
		b.res.notMeasured(keyScrub+"/"+sysMat2, b.tools.why["mat2"])
	}
	// Count what is left, with one exiftool run over every file.
	var paths []string
	for i, c := range corpus {
		paths = append(paths, c.path, sres.files[i].sandyqPath)
		if p := sres.files[i].mat2Path; p != "" {
			paths = append(paths, p)
		}
	}
	counts, err := b.exifCount(ctx, paths)
	if err != nil {
		return err
	}
	for i, c := range corpus {
		f := &sres.files[i]
		var ok bool
		if f.original, ok = counts[c.path]; !ok {
			return fmt.Errorf("exiftool could not read %s", c.name)
		}
		if f.sandyq, ok = counts[f.sandyqPath]; !ok {
			return fmt.Errorf("exiftool could not read sandyq-client's export of %s", c.name)
		}
		if f.mat2Path != "" {
			m, ok := counts[f.mat2Path]
			if !ok {
				f.mat2Err = "exiftool could not read its output"
				continue
			}
			f.mat2 = &m
		}
	}
	b.res.scrub = sres
	return nil
}

// scrubNote returns the warning sandyq-client printed for a file it could
// not scrub, shortened.
func scrubNote(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "sandyq-client: warning: not scrubbed: "); ok {
			if i := strings.Index(rest, ";"); i > 0 {
				rest = rest[:i]
			}
			return "not scrubbed: " + rest
		}
	}
	return ""
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}

// tidy removes a small working file or directory, unless -keep asks to
// keep them for inspection (the large ones are removed regardless).
func (b *bench) tidy(path string) {
	if !b.keep {
		os.RemoveAll(path)
	}
}
