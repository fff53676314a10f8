package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// results collects the measurements of a session. Each series holds one
// value per run, NaN where a run could not be measured, so that two series
// of the same section can be divided run by run.
type results struct {
	mu     sync.Mutex
	runs   int
	series map[string][]float64
	notes  []note
	scrub  *scrubResult

	machine, versions []kv
	took              map[string]time.Duration
	loadStart         string
	loadEnd           string
	elapsed           time.Duration
	mode              string
	sz                sizes
	date              time.Time
}

// note says why something was not measured.
type note struct{ what, why string }

// kv is one line of a description list.
type kv struct{ k, v string }

func newResults(runs int) *results {
	return &results{runs: runs, series: map[string][]float64{}, took: map[string]time.Duration{},
		loadStart: loadAvg(), date: time.Now()}
}

// set records the value of series key in run.
func (r *results) set(key string, run int, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[key]
	for len(s) <= run {
		s = append(s, nan)
	}
	s[run] = v
	r.series[key] = s
}

// setMem records a memory peak as the series key/rss and key/anon, in MiB.
func (r *results) setMem(key string, run int, m memPeak) {
	if m.hwm > 0 {
		r.set(key+"/rss", run, float64(m.hwm)/(1<<20))
	}
	if m.anon >= 0 {
		r.set(key+"/anon", run, float64(m.anon)/(1<<20))
	}
}

// get returns the values of series key, one per run (NaN: not measured).
func (r *results) get(key string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := append([]float64(nil), r.series[key]...)
	for len(s) < r.runs {
		s = append(s, nan)
	}
	return s
}

// notMeasured records why what could not be measured; the first reason
// for each what is kept.
func (r *results) notMeasured(what, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notes {
		if n.what == what {
			return
		}
	}
	r.notes = append(r.notes, note{what, oneLine(why)})
}

// describeMachine says what the benchmark runs on; dir is the work
// directory, whose disk is described.
func describeMachine(dir string) []kv {
	var out []kv
	cpu := firstField("/proc/cpuinfo", "model name")
	if strings.Contains(readText("/proc/cpuinfo"), " hypervisor") {
		cpu += " (virtual machine)"
	}
	out = append(out, kv{"CPU", cpu}, kv{"cores", fmt.Sprint(runtime.NumCPU())})
	if mem := firstField("/proc/meminfo", "MemTotal"); mem != "" {
		var kb int64
		fmt.Sscan(mem, &kb)
		out = append(out, kv{"RAM", fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))})
	}
	out = append(out, kv{"kernel", "Linux " + strings.TrimSpace(readText("/proc/sys/kernel/osrelease"))})
	if sys := osRelease(); sys != "" {
		out = append(out, kv{"system", sys})
	}
	out = append(out, kv{"disk", describeDisk(dir)})
	out = append(out, kv{"Go", runtime.Version()})
	return out
}

func readText(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// firstField returns the value of the first "key : value" line of a /proc
// file.
func firstField(path, key string) string {
	sc := bufio.NewScanner(strings.NewReader(readText(path)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func osRelease() string {
	for _, line := range strings.Split(readText("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// describeDisk names the device and file system holding dir, its size,
// free space, and whether the kernel sees it as rotational.
func describeDisk(dir string) string {
	best, desc, devnum := "", "", ""
	for _, line := range strings.Split(readText("/proc/self/mountinfo"), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source superopts
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		mp := f[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, desc, devnum = mp, fmt.Sprintf("%s (%s)", f[sep+2], f[sep+1]), f[2]
		}
	}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil {
		desc += fmt.Sprintf(", %.0f GiB, %.0f GiB free", float64(st.Blocks)*float64(st.Bsize)/(1<<30),
			float64(st.Bavail)*float64(st.Bsize)/(1<<30))
	}
	for _, q := range []string{"queue/rotational", "../queue/rotational"} {
		if v := strings.TrimSpace(readText(filepath.Join("/sys/dev/block", devnum, q))); v != "" {
			if v == "0" {
				desc += ", non-rotational"
			} else {
				desc += ", which the kernel reports as rotational"
			}
			break
		}
	}
	return desc
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	f := strings.Fields(readText("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// versions names the version of sandyq and of every peer.
func (b *bench) versions(ctx context.Context) []kv {
	first := func(path string, args ...string) string {
		if path == "" {
			return "not installed"
		}
		r, err := b.procs.run(ctx, runOpts{}, path, args...)
		out := strings.TrimSpace(r.Stdout + "\n" + r.Stderr)
		if err != nil && out == "" {
			return "unknown"
		}
		line, _, _ := strings.Cut(out, "\n")
		return strings.TrimSpace(line)
	}
	deb := func(pkg string) string {
		r, err := b.procs.run(ctx, runOpts{}, "dpkg-query", "-W", "-f=${Version}", pkg)
		if err != nil || r.Stdout == "" {
			return ""
		}
		return " (Debian " + pkg + " " + r.Stdout + ")"
	}
	sandyq := "unknown"
	if r, err := b.procs.run(ctx, runOpts{Dir: b.root}, "git", "rev-parse", "--short=12", "HEAD"); err == nil {
		sandyq = "commit " + strings.TrimSpace(r.Stdout)
		if s, err := b.procs.run(ctx, runOpts{Dir: b.root}, "git", "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(s.Stdout) != "" {
			sandyq += " with uncommitted changes"
		}
	}
	osVer := "not installed"
	if b.tools.onionshare != "" {
		osVer = "onionshare-cli" + deb("onionshare-cli")
		if py := first("python3", "--version"); py != "unknown" {
			osVer += ", " + py
		}
	}
	return []kv{
		{"sandyq", sandyq + ", built with " + runtime.Version()},
		{"OnionShare", osVer},
		{"gzip", first(b.tools.gzip, "--version") + deb("gzip")},
		{"GnuPG", first(b.tools.gpg, "--version") + deb("gnupg")},
		{"age", first(b.tools.age, "--version")},
		{"mat2", first(b.tools.mat2, "--version") + deb("mat2")},
		{"exiftool", first(b.tools.exif, "-ver") + deb("libimage-exiftool-perl")},
		{"tor", first(b.tools.tor, "--version") + deb("tor")},
	}
}

// sizeName prints a byte count as the benchmark's sizes are given: 1 GiB,
// 64 MiB, 4 KiB.
func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
