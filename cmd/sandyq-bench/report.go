package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// The report: the tables printed on stdout, and the generated section of
// docs/performance.md (machine, versions, tables, the reading of the
// targets, what could not be measured).

// Markers of the generated section of the document. Everything between
// them is replaced at each full run; everything outside is kept.
const (
	beginMarker = "<!-- sandyq-bench: begin generated section (go run ./cmd/sandyq-bench); edits here are overwritten -->"
	endMarker   = "<!-- sandyq-bench: end generated section -->"
)

type report struct{ terminal, doc string }

// rowSpec is one row of the results table.
type rowSpec struct {
	section string // which section measured it (for "not measured")
	what    string // the measurement; printed on its first row
	key     string // series prefix: section/system
	system  string
	unit    string
	measure string        // series suffix of the result: rate or time
	rss     bool          // has a peak RSS series
	result  func() string // overrides the result cell
}

// ratioSpec is one row of the ratios table: num divided by den, run by
// run.
type ratioSpec struct {
	id       string // key of the reading's notes; "" for information only
	name     string
	short    string // how the reading names it
	num, den string
	goal     float64 // 0: no target
	higher   bool    // the goal is a minimum (else the ratio must stay below it)
	target   string
}

func (r *results) rows() []rowSpec {
	sz := r.sz
	return []rowSpec{
		{section: "ingest", what: fmt.Sprintf("Ingest: one %s upload", sizeName(sz.single)), key: keyIngest1 + "/" + sysSandyq,
			system: "sandyq, web form (`serve --dev-listen`)", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngest1 + "/" + sysOnionShare, system: "OnionShare receive mode (`--local-only`)", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngest1 + "/" + sysSecureDrop, system: "SecureDrop-style: `gzip -9`, `gpg` to RSA-4096", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngest1 + "/" + sysAge, system: "`age` to a file (the floor)", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", what: fmt.Sprintf("Ingest: %d × %s at once", sz.concN, sizeName(sz.conc)), key: keyIngestN + "/" + sysSandyq,
			system: "sandyq, web form", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngestN + "/" + sysSandyqLow, system: fmt.Sprintf("sandyq, web form, `--memory-limit %d`", lowMemLimit),
			unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngestN + "/" + sysOnionShare, system: "OnionShare receive mode", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngestN + "/" + sysSecureDrop, system: "SecureDrop-style", unit: "MB/s", measure: "rate", rss: true},
		{section: "ingest", key: keyIngestN + "/" + sysAge, system: "`age` to a file", unit: "MB/s", measure: "rate", rss: true},
		{section: "small", what: fmt.Sprintf("Small: %s messages, %d clients", sizeName(int64(sz.smallMsg)), sz.smallClients),
			key: keySmall + "/" + sysSandyq, system: "sandyq, web form (fsynced before the receipt)", unit: "messages/s", measure: "rate", rss: true},
		{section: "small", key: keySmall + "/" + sysOnionShare, system: "OnionShare text messages (not fsynced)", unit: "messages/s", measure: "rate", rss: true},
		{section: "tor", what: fmt.Sprintf("Over Tor: one %s upload", sizeName(sz.tor)), key: keyTor + "/" + sysSandyq,
			system: "sandyq's onion, web form", unit: "MB/s", measure: "rate"},
		{section: "tor", key: keyTor + "/" + sysOnionShare, system: "OnionShare's onion", unit: "MB/s", measure: "rate"},
		{section: "tor", key: keyTor + "/" + sysStatic, system: "plain HTTP server behind an onion (ceiling)", unit: "MB/s", measure: "rate"},
		{section: "offline", what: fmt.Sprintf("Offline: open a %s bundle", sizeName(sz.open)), key: keyOpen + "/" + sysSandyq,
			system: "`sandyq-client open`", unit: "MB/s", measure: "rate", rss: true},
		{section: "offline", key: keyOpen + "/" + sysAge, system: "`age -d` of the same item", unit: "MB/s", measure: "rate", rss: true},
		{section: "offline", what: "Offline: scrub the corpus", key: keyScrub + "/" + sysSandyq,
			system: "`sandyq-client export --scrub`, one run per file", unit: "s", measure: "time"},
		{section: "offline", key: keyScrub + "/" + sysMat2, system: "`mat2`, one run per file", unit: "s", measure: "time"},
		{section: "login", what: "Login, default Argon2id (t=3, 64 MiB, p=4)", key: keyLogin,
			system: fmt.Sprintf("sandyq, %d logins from 8 clients", sz.logins), unit: "logins/s", measure: "rate"},
		{section: "login", what: fmt.Sprintf("Login: %d attempts at once", sz.loginConc), key: keyLogin, system: "sandyq", rss: true,
			result: func() string {
				return fmt.Sprintf("%s logged in, %s refused (busy), in %s s",
					formatCount(summarize(r.get(keyLogin+"/accepted"))), formatCount(summarize(r.get(keyLogin+"/refused"))),
					formatSummary(summarize(r.get(keyLogin+"/burstTime"))))
			}},
	}
}

func ratioSpecs() []ratioSpec {
	in1, inN := keyIngest1+"/", keyIngestN+"/"
	return []ratioSpec{
		{"ingest-age", "Ingest, one upload: sandyq ÷ age to a file", "one upload", in1 + sysSandyq + "/rate", in1 + sysAge + "/rate", 0.7, true, "≥ 0.7"},
		{"ingest-age", "Ingest, at once: sandyq ÷ age to a file", "uploads at once", inN + sysSandyq + "/rate", inN + sysAge + "/rate", 0.7, true, "≥ 0.7"},
		{"ingest-sd", "Ingest, one upload: sandyq ÷ SecureDrop-style", "one upload", in1 + sysSandyq + "/rate", in1 + sysSecureDrop + "/rate", 10, true, "≥ 10"},
		{"ingest-sd", "Ingest, at once: sandyq ÷ SecureDrop-style", "uploads at once", inN + sysSandyq + "/rate", inN + sysSecureDrop + "/rate", 10, true, "≥ 10"},
		{"", "Ingest, one upload: sandyq ÷ OnionShare", "", in1 + sysSandyq + "/rate", in1 + sysOnionShare + "/rate", 0, true, ""},
		{"", "Ingest, at once: sandyq ÷ OnionShare", "", inN + sysSandyq + "/rate", inN + sysOnionShare + "/rate", 0, true, ""},
		{"ingest-rss", "Ingest, at once: peak RSS sandyq ÷ OnionShare", "peak RSS", inN + sysSandyq + "/rss", inN + sysOnionShare + "/rss", 1, false, "< 1"},
		{"", "Ingest, at once: anonymous peak sandyq ÷ OnionShare", "", inN + sysSandyq + "/anon", inN + sysOnionShare + "/anon", 0, true, ""},
		{"", fmt.Sprintf("Ingest, at once: anonymous peak sandyq `--memory-limit %d` ÷ OnionShare", lowMemLimit), "",
			inN + sysSandyqLow + "/anon", inN + sysOnionShare + "/anon", 0, true, ""},
		{"", "Small messages: sandyq ÷ OnionShare", "", keySmall + "/" + sysSandyq + "/rate", keySmall + "/" + sysOnionShare + "/rate", 0, true, ""},
		{"tor", "Over Tor: sandyq ÷ static server", "sandyq ÷ ceiling", keyTor + "/" + sysSandyq + "/rate", keyTor + "/" + sysStatic + "/rate", 0.9, true, "≥ 0.9"},
		{"", "Over Tor: OnionShare ÷ static server", "", keyTor + "/" + sysOnionShare + "/rate", keyTor + "/" + sysStatic + "/rate", 0, true, ""},
		{"open", "Offline open: sandyq-client ÷ age -d", "sandyq-client ÷ age -d", keyOpen + "/" + sysSandyq + "/rate", keyOpen + "/" + sysAge + "/rate", 0.8, true, "≥ 0.8"},
		{"", "Scrub time: sandyq-client ÷ mat2 (lower is faster)", "", keyScrub + "/" + sysSandyq + "/time", keyScrub + "/" + sysMat2 + "/time", 0, true, ""},
	}
}

// render builds the terminal output and the document section.
func (r *results) render(sections []string) report {
	ran := func(s string) bool { return slices.Contains(sections, s) }

	var rows [][]string
	last := ""
	for _, row := range r.rows() {
		if !ran(row.section) {
			continue
		}
		res := "–"
		if row.result != nil {
			res = row.result()
		} else if s := summarize(r.get(row.key + "/" + row.measure)); s.N > 0 {
			res = formatSummary(s) + " " + row.unit
		}
		rss, anon := "–", "–"
		if row.rss {
			rss = formatSummary(summarize(r.get(row.key + "/rss")))
			anon = formatSummary(summarize(r.get(row.key + "/anon")))
		}
		what := ""
		if row.what != "" && row.what != last {
			what, last = row.what, row.what
		}
		rows = append(rows, []string{what, row.system, res, rss, anon})
	}
	results := markdownTable([]string{"Measurement", "System", "Result: median (min–max)", "Peak RSS, MiB", "of it anonymous, MiB"}, rows)

	var rrows [][]string
	for _, s := range ratioSpecs() {
		if !r.hasSeries(s.num) && !r.hasSeries(s.den) {
			continue
		}
		sum := summarize(pairRatios(r.get(s.num), r.get(s.den)))
		v := "information"
		if s.goal != 0 {
			v = verdict(sum.Median, s.goal, s.higher)
		}
		target := s.target
		if target == "" {
			target = "–"
		}
		rrows = append(rrows, []string{s.name, formatSummary(sum), target, v})
	}
	ratios := markdownTable([]string{"Ratio, pair by pair in the same run", "Median (min–max)", "Target", "Verdict"}, rrows)

	scrub := ""
	if r.scrub != nil {
		scrub = r.scrubTables()
	}
	var notes strings.Builder
	for _, n := range r.notes {
		fmt.Fprintf(&notes, "- %s: %s\n", n.what, n.why)
	}

	var t strings.Builder
	fmt.Fprintf(&t, "\nsandyq-bench, %s mode, %d run(s) of each measurement, %s\n\n", r.mode, r.runs, wallTime(r.elapsed))
	t.WriteString(results + "\n" + ratios)
	if scrub != "" {
		t.WriteString("\n" + scrub)
	}
	if notes.Len() > 0 {
		t.WriteString("\nNot measured:\n" + notes.String())
	}
	return report{terminal: t.String(), doc: r.docSection(results, ratios, scrub, notes.String(), ran)}
}

func (r *results) hasSeries(key string) bool {
	s := summarize(r.get(key))
	return s.N > 0
}

// scrubTables shows the identifying tags planted in the corpus and left by
// each tool, by category and by file.
func (r *results) scrubTables() string {
	cat := func(get func(scrubFile) *tagCount) []int {
		out := make([]int, len(tagCategories))
		for _, f := range r.scrub.files {
			c := get(f)
			if c == nil {
				continue
			}
			for i, k := range tagCategories {
				out[i] += (*c)[k]
			}
		}
		return out
	}
	orig := cat(func(f scrubFile) *tagCount { return &f.original })
	sq := cat(func(f scrubFile) *tagCount { return &f.sandyq })
	m2 := cat(func(f scrubFile) *tagCount { return f.mat2 })
	var rows [][]string
	for i, k := range tagCategories {
		v := "met"
		if sq[i] > m2[i] {
			v = fmt.Sprintf("missed: %d more than mat2", sq[i]-m2[i])
		}
		rows = append(rows, []string{k, fmt.Sprint(orig[i]), fmt.Sprint(sq[i]), fmt.Sprint(m2[i]), v})
	}
	byCat := markdownTable([]string{"Identifying tags", "Planted", "Left by sandyq-client", "Left by mat2", "Target: no more than mat2"}, rows)

	rows = nil
	for _, f := range r.scrub.files {
		m := "mat2 failed: " + f.mat2Err
		if f.mat2 != nil {
			m = fmt.Sprint(f.mat2.total())
		}
		s := fmt.Sprint(f.sandyq.total())
		if f.sandyqNote != "" {
			s += " (" + f.sandyqNote + ")"
		}
		rows = append(rows, []string{f.name, f.kind, fmt.Sprint(f.original.total()), s, m})
	}
	byFile := markdownTable([]string{"File", "Format", "Planted", "Left by sandyq-client", "Left by mat2"}, rows)
	return byCat + "\n" + byFile
}

// docSection is the generated section of docs/performance.md.
func (r *results) docSection(results, ratios, scrub, notes string, ran func(string) bool) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s\n\n", beginMarker)
	runs := fmt.Sprintf("%d runs of each measurement", r.runs)
	if r.runs == 1 {
		runs = "one run of each measurement"
	}
	if r.sz.torRuns != r.runs && ran("tor") {
		runs += fmt.Sprintf(", %d over Tor", r.sz.torRuns)
	}
	cmd := "go run ./cmd/sandyq-bench"
	if r.mode == "quick" {
		cmd += " -quick -doc docs/performance.md"
	}
	w("Measured %s in the %s mode (%s; every peer in the same run), in\n", r.date.UTC().Format("2006-01-02"), r.mode, runs)
	w("%s of wall time, with:\n\n```\n%s\n```\n\n", wallTime(r.elapsed), cmd)
	w("### Machine\n\n")
	for _, m := range r.machine {
		w("- %s: %s\n", m.k, m.v)
	}
	w("- load average (1, 5, 15 min) at the start: %s; at the end: %s. Other workers shared the\n", r.loadStart, r.loadEnd)
	w("  two cores during the run, so absolute numbers move from run to run; read the ratios,\n")
	w("  which compare numbers taken a minute apart.\n\n")
	w("### Versions\n\n")
	for _, v := range r.versions {
		w("- %s: %s\n", v.k, v.v)
	}
	w("\n### Results\n\n%s\n", results)
	w("Throughput is file content (not multipart framing) divided by wall time, from the first\n")
	w("byte sent to the last answer; MB is 10⁶ bytes. Peak RSS is the server process's VmHWM\n")
	w("(/proc/PID/status), reset just before the measured requests (clear_refs 5) so that\n")
	w("set-up is not counted; the anonymous part (heap and stacks: RssAnon, which has no peak\n")
	w("counter of its own) is sampled every 20 ms. VmHWM counts the pages of memory-mapped files\n")
	w("the process touched too: for sandyq, its bbolt database. For the command-line tools it is\n")
	w("each process's VmHWM, sampled every 10 ms, summed over the pipelines that run at once (not\n")
	w("wait4's maxrss: Go starts children with vfork, and Linux carries the parent's peak into the\n")
	w("child's maxrss at exec).\n\n")
	w("### Ratios\n\n%s\n", ratios)
	if scrub != "" && ran("offline") {
		w("### Scrubbing: identifying tags left, counted by exiftool\n\n%s\n", scrub)
	}
	w("### How each row is measured\n\n%s\n", methodText(r.sz))
	w("### Reading\n\n%s\n", r.reading(ran))
	if notes != "" {
		w("### Not measured\n\n%s\n", notes)
	}
	w("%s\n", endMarker)
	return b.String()
}

// wallTime prints a duration in whole minutes, or seconds below two
// minutes.
func wallTime(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf("%.0f seconds", d.Seconds())
	}
	return fmt.Sprintf("%.0f minutes", d.Minutes())
}

// methodText says what each measurement does, for the document.
func methodText(sz sizes) string {
	return strings.Join([]string{
		"- **sandyq** is built from this checkout and run as `sandyq serve --dev-listen 127.0.0.1:0`",
		"  on a fresh data directory for every run (`sandyq init`, a newsroom key pinned, a signed set of",
		"  one post-quantum recipient installed, all with `sandyq-client` as on the air-gapped laptop).",
		"  Uploads use the **web form**, the path a source with Tor Browser takes: GET the page, POST",
		"  the form with its CSRF token and the session cookie, `multipart/form-data` with the CSRF field",
		"  first, one file part per upload; success is the 303 to the receipt, which the server sends",
		"  only after the commit is fsynced. The source API that `sandyq submit` uses (`/api/v1/`) is",
		"  not measured: there the source's machine encrypts, so the server's work is a different one.",
		"  Each upload comes from its own source (new codenames through the pages, then logins with",
		"  them once the new-codename rate limit is spent). For set-up speed these servers run with",
		"  `--kdf-test`: codenames cost nothing to make; the upload path is the same, and the",
		"  Argon2id cost is measured on its own in the login rows, without `--kdf-test`.",
		"- **OnionShare** is Debian's `onionshare-cli --receive --local-only` (its Flask server on",
		"  127.0.0.1), fed the same multipart uploads through its own form (`POST /upload`, field",
		"  `file[]`, or `text` for messages). It writes the plaintext to its data directory and fsyncs",
		"  nothing; the benchmark checks the bytes it stored.",
		"- **SecureDrop-style** is what SecureDrop's server does with a received file, with public",
		"  tools: `gzip -9` into a temporary file, then `gpg --encrypt` of that file to an RSA-4096",
		"  key (gpg sees gzip data and compresses no further), then fsync. SecureDrop also encrypts its",
		"  temporary file with a throwaway AES key; leaving that out makes this path faster than the",
		"  real one. One pipeline per upload, all at once for the concurrent case.",
		"- **age** is the `age` command (v1.3.2) encrypting the same bytes to the same post-quantum",
		"  recipient into a file, then fsync: the floor, since sandyq does this and more.",
		fmt.Sprintf("- **Small messages**: %d clients, each logged in as a source, post %s messages as fast as the",
			sz.smallClients, sizeName(int64(sz.smallMsg))),
		fmt.Sprintf("  server answers, for %s per run; a 503 (\"busy\": sandyq caps submissions in progress at", sz.smallFor),
		"  32) is counted and retried after 10 ms.",
		"- **Over Tor**: a private Tor network on 127.0.0.1 (`sandyq/internal/tortest`: 3 directory",
		"  authorities, 3 relays, a client; Debian's tor). `sandyq serve --torrc` publishes sandyq's",
		"  onion with its own tor; OnionShare publishes its onion through the control port of a tor",
		"  of the network (`--config` with `connection_type: control_port`, and `--public`, as sandyq's",
		"  source onion has no client authorization); the ceiling is a Go HTTP server that reads and",
		"  discards the body, behind `HiddenServiceDir` of a tor of the network. The same multipart",
		"  upload goes to each through a client of the network, after a first request has built the",
		"  rendezvous circuit; the order of the three turns from run to run. Every tor of the",
		"  comparison runs without entry guards or vanguards (`UseEntryGuards 0`,",
		"  `VanguardsLiteEnabled 0`, and `MaxCircuitDirtiness 30` on the client), so that each run",
		"  takes new random paths: with guards, each onion keeps the relays its tor picked at start,",
		"  and one that picked a busy relay is slow in every run. All tor processes share the two",
		"  cores with everything else.",
		"- **Offline open**: a real server receives the file through the form, `sandyq fetch` makes",
		"  the bundle, then `sandyq-client open` (signature, manifest, SHA-256, envelope, age, files",
		"  written and fsynced into the vault) is timed against `age -d` of the item's bytes",
		"  extracted from the same bundle, with its output fsynced too.",
		"- **Scrubbing**: JPEG photos, a PNG screenshot, a GIF, a PDF and a DOCX carrying GPS position,",
		"  camera serial numbers, author, software and timestamps (written with exiftool, and by",
		"  hand in the PDF info dictionary and the DOCX properties and ZIP times) go through the form",
		"  and a bundle into a vault; `sandyq-client export --scrub` exports each, and `mat2` cleans",
		"  a copy of each original. `exiftool -a -G1` then lists every tag; a tag counts as",
		"  identifying when it is a GPS tag or still carries a planted value (so a `Producer: cairo`",
		"  that mat2's renderer adds counts for nothing). Tags about the file on disk do not count.",
		fmt.Sprintf("- **Login**: `sandyq serve` without `--kdf-test`. Per run, on a fresh server: %d logins",
			sz.logins),
		"  from 8 clients, timed; then, on another fresh server,",
		fmt.Sprintf("  %d attempts released at once (each fetched its form first); the server runs two Argon2id", sz.loginConc),
		"  derivations at a time and has a budget of 60 logins per minute, so the rest are refused",
		"  with 503 before any hashing.",
	}, "\n") + "\n"
}

// targetNote says, for a target that is missed, why and what would close
// it. The text comes from what this benchmark and the in-package
// benchmarks show; facts computed from the run are added by the funcs.
type targetNote struct {
	why, close string
	facts      func(r *results) string // "" when there is nothing to add
}

func targetNotes() map[string]targetNote {
	med := func(r *results, key string) float64 { return summarize(r.get(key)).Median }
	return map[string]targetNote{
		"ingest-age": {
			why: "one form upload goes through multipart parsing, the envelope (a SHA-256 of the content), age, " +
				"a SHA-256 of the ciphertext and the store's chunking one step after another on one goroutine, " +
				"then the group commit copies it into bbolt's pages, writes and fsyncs it; the in-package ratios " +
				"below put envelope sealing alone at 0.43 of plain age, so one upload cannot reach 0.7 as the path " +
				"is. With many uploads at once the throughput falls below one upload's, though two cores could " +
				"share the work: all chunks meet in the store's single writer goroutine (bbolt allows one writer), which " +
				"copies, writes and fsyncs every byte, and the fresh page buffers bbolt allocates at each commit " +
				"keep the garbage collector busy; age runs one process per file on both cores. The loopback and " +
				"the client are not the limit: the same client feeds OnionShare several times faster.",
			close: "for one upload, overlapping the steps: the two SHA-256s on goroutines of their own next to " +
				"age, and the multipart reading on another, so that an upload uses both cores; for many, taking " +
				"the chunk bytes out of the single writer: each upload writing its ciphertext to an append-only " +
				"file (or its own file) from its own goroutine, and the writer committing only the index and " +
				"the fsync.",
			facts: func(r *results) string {
				osh, sq := med(r, keyIngest1+"/"+sysOnionShare+"/rate"), med(r, keyIngest1+"/"+sysSandyq+"/rate")
				sqN := med(r, keyIngestN+"/"+sysSandyq+"/rate")
				if math.IsNaN(osh) || math.IsNaN(sq) {
					return ""
				}
				s := fmt.Sprintf("Here the same client sent one upload to OnionShare at %s MB/s and to sandyq at %s MB/s",
					formatNum(osh), formatNum(sq))
				if !math.IsNaN(sqN) {
					s += fmt.Sprintf("; sandyq took the concurrent uploads at %s MB/s in all", formatNum(sqN))
				}
				return s + "."
			},
		},
		"ingest-sd": {
			why: "the SecureDrop-style path is bound by `gzip -9` on data that does not compress (as photos, " +
				"videos and archives do not), so ten times it is a throughput close to age's own; sandyq's " +
				"upload path is the limit, as in the age ratio.",
			close: "the same work as for the age ratio.",
			facts: func(r *results) string {
				var out []string
				for _, k := range []string{keyIngest1, keyIngestN} {
					sd, age := med(r, k+"/"+sysSecureDrop+"/rate"), med(r, k+"/"+sysAge+"/rate")
					if math.IsNaN(sd) || math.IsNaN(age) {
						continue
					}
					what := "one upload"
					if k == keyIngestN {
						what = "the concurrent uploads"
					}
					out = append(out, fmt.Sprintf("for %s, 10× the SecureDrop-style rate is %s MB/s, %s of age's rate",
						what, formatNum(10*sd), formatNum(10*sd/age)))
				}
				if len(out) == 0 {
					return ""
				}
				return "Here, " + strings.Join(out, "; ") + "."
			},
		},
		"ingest-rss": {
			why: "almost all of sandyq's peak RSS is the store's database file, which bbolt maps into memory " +
				"read-only: the pages of it that commits read (the B+tree pages around each new chunk) count as " +
				"resident, though they are page cache shared with the kernel, which drops them under memory " +
				"pressure, not memory the server allocated. The rest is the Go heap, garbage included, which the " +
				"collector lets grow towards the soft memory limit (256 MiB by default).",
			close: "keeping chunk data out of the pages a commit reads (chunks written to an append-only " +
				"ciphertext file, with only their index in bbolt), or dropping the mapped pages of committed " +
				"chunks; for the heap part, a lower `--memory-limit`, as the row with 64 MiB shows, at some cost in " +
				"throughput.",
			facts: func(r *results) string {
				k := keyIngestN + "/"
				sq, sqA := med(r, k+sysSandyq+"/rss"), med(r, k+sysSandyq+"/anon")
				low := med(r, k+sysSandyqLow+"/anon")
				osh, oshA := med(r, k+sysOnionShare+"/rss"), med(r, k+sysOnionShare+"/anon")
				if math.IsNaN(sq) || math.IsNaN(sqA) || math.IsNaN(osh) || math.IsNaN(oshA) {
					return ""
				}
				s := fmt.Sprintf("Here sandyq's peak RSS was %s MiB, of which %s MiB anonymous (sampled); OnionShare's %s MiB, %s MiB anonymous",
					formatNum(sq), formatNum(sqA), formatNum(osh), formatNum(oshA))
				if !math.IsNaN(low) {
					s += fmt.Sprintf("; with `--memory-limit %d`, sandyq's anonymous peak was %s MiB", lowMemLimit, formatNum(low))
				}
				return s + "."
			},
		},
		"tor": {
			facts: func(r *results) string {
				osh := summarize(pairRatios(r.get(keyTor+"/"+sysOnionShare+"/rate"), r.get(keyTor+"/"+sysStatic+"/rate")))
				st := summarize(r.get(keyTor + "/" + sysStatic + "/rate"))
				if osh.N == 0 || st.N == 0 {
					return ""
				}
				return fmt.Sprintf("The ceiling itself was %s MB/s; OnionShare reached %s of it. Every upload "+
					"takes new random paths through the network's six relays, all on the same two cores as "+
					"everything else, so one upload differs from the next.",
					formatSummary(st), formatSummary(osh))
			},
			why: "over Tor the client, the relays and the three onion services' tors run on the same two " +
				"cores as the servers: whatever sandyq spends on an upload is taken from tor's cell crypto, " +
				"whereas the ceiling's server only discards the bytes.",
			close: "a cheaper upload path (see the ingest ratios); on a real deployment the relays run " +
				"elsewhere and a circuit carries far less than sandyq ingests.",
		},
		"open": {
			why: "`sandyq-client open` checks the bundle's SHA-256, decrypts with age, checks the envelope's " +
				"SHA-256 and trailer, and writes and fsyncs the plaintext one step after another; `age -d` only " +
				"decrypts and writes.",
			close: "hashing on a second goroutine next to the decryption (the in-package bundle-reading " +
				"ratio, 0.91 of SHA-256 alone, shows that reading itself is not the cost).",
		},
	}
}

// reading is the plain reading of the targets of issue 6, and of the
// measurements that have none.
func (r *results) reading(ran func(string) bool) string {
	var b strings.Builder
	byID := map[string][]ratioSpec{}
	var order []string
	for _, s := range ratioSpecs() {
		if s.id == "" {
			continue
		}
		if _, ok := byID[s.id]; !ok {
			order = append(order, s.id)
		}
		byID[s.id] = append(byID[s.id], s)
	}
	titles := map[string]string{
		"ingest-age": "sandyq ingest ≥ 0.7 of age to a file",
		"ingest-sd":  "sandyq ingest ≥ 10× the SecureDrop-style path",
		"ingest-rss": "sandyq's peak RSS for the concurrent uploads below OnionShare's",
		"tor":        "over Tor, sandyq ≥ 0.9 of the static-server ceiling",
		"open":       "offline open ≥ 0.8 of `age -d`",
	}
	sections := map[string]string{"ingest-age": "ingest", "ingest-sd": "ingest", "ingest-rss": "ingest", "tor": "tor", "open": "offline"}
	notes := targetNotes()
	for _, id := range order {
		if !ran(sections[id]) {
			continue
		}
		var parts, lows []string
		missed, measured := false, false
		for _, s := range byID[id] {
			sum := summarize(pairRatios(r.get(s.num), r.get(s.den)))
			if sum.N == 0 {
				continue
			}
			measured = true
			v := verdict(sum.Median, s.goal, s.higher)
			if v != "met" {
				missed = true
				v = strings.TrimSuffix(strings.TrimPrefix(v, "missed: "), " of the target")
				v = strings.TrimSuffix(v, " the target")
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s)", s.short, formatSummary(sum), v))
			worst := sum.Min
			if !s.higher {
				worst = sum.Max
			}
			if v == "met" && verdict(worst, s.goal, s.higher) != "met" {
				lows = append(lows, fmt.Sprintf("the worst of %d runs (%s) was %s", sum.N, s.short, formatNum(worst)))
			}
		}
		if !measured {
			fmt.Fprintf(&b, "- **%s**: not measured in this run (see below).\n", titles[id])
			continue
		}
		state := "met"
		if missed {
			state = "missed"
		}
		fmt.Fprintf(&b, "- **%s**: %s: %s.", titles[id], state, strings.Join(parts, "; "))
		if !missed && len(lows) > 0 {
			fmt.Fprintf(&b, " Met by the median only: %s.", strings.Join(lows, "; "))
		}
		if n, ok := notes[id]; ok && n.facts != nil {
			if f := n.facts(r); f != "" {
				fmt.Fprintf(&b, " %s", f)
			}
		}
		if n, ok := notes[id]; ok && missed {
			fmt.Fprintf(&b, " Why: %s What would close it: %s", n.why, n.close)
		}
		b.WriteString("\n")
	}
	if ran("offline") {
		b.WriteString("- **scrubbing leaves no more identifying tags than mat2**: ")
		if r.scrub == nil {
			b.WriteString("not measured in this run (see below).\n")
		} else {
			b.WriteString(r.scrubReading() + "\n")
		}
	}
	med := func(key string) summary { return summarize(r.get(key)) }
	if sq, osh := med(keySmall+"/"+sysSandyq+"/rate"), med(keySmall+"/"+sysOnionShare+"/rate"); ran("small") && sq.N > 0 {
		fmt.Fprintf(&b, "- **small messages** (no target): sandyq commits %s durable messages a second",
			formatSummary(sq))
		if osh.N > 0 {
			fmt.Fprintf(&b, ", OnionShare writes %s that are not fsynced", formatSummary(osh))
		}
		fmt.Fprintf(&b, ". sandyq answers \"busy\" (503) beyond 32 submissions in progress: %s such answers a second, "+
			"which the clients retried; the fsync of each group commit, shared by the messages that arrived meanwhile, "+
			"is what a message waits for. Between runs the rate varies with the load other workers put on the machine.\n",
			formatSummary(med(keySmall+"/"+sysSandyq+"/busy")))
	}
	if rate := med(keyLogin + "/rate"); ran("login") && rate.N > 0 {
		fmt.Fprintf(&b, "- **login** (no target): %s codename logins a second at the default Argon2id cost, two "+
			"derivations at a time on two cores. Of %d attempts at once, %s got in and %s were refused at once (the "+
			"budget is 60 logins a minute), and the server's peak RSS was %s MiB, %s MiB of it anonymous: two 64 MiB "+
			"Argon2id buffers at a time, and the garbage of the finished ones, which the collector returns once the heap "+
			"nears the soft memory limit (256 MiB).\n",
			formatSummary(rate), r.sz.loginConc, formatCount(med(keyLogin+"/accepted")), formatCount(med(keyLogin+"/refused")),
			formatSummary(med(keyLogin+"/rss")), formatSummary(med(keyLogin+"/anon")))
	}
	return b.String()
}

// scrubReading says which categories and files miss the scrubbing target.
func (r *results) scrubReading() string {
	var missed, clean, files, imagesLeft []string
	images := 0
	for _, f := range r.scrub.files {
		if f.kind == "JPEG" || f.kind == "PNG" || f.kind == "GIF" {
			images++
			if f.sandyq.total() > 0 {
				imagesLeft = append(imagesLeft, f.name)
			}
		}
		if f.mat2 == nil {
			continue
		}
		if f.sandyq.total() > f.mat2.total() {
			what := fmt.Sprintf("%s (%s: %d left, mat2 %d", f.name, f.kind, f.sandyq.total(), f.mat2.total())
			if f.sandyqNote != "" {
				what += "; sandyq-client: " + f.sandyqNote
			}
			files = append(files, what+")")
		}
	}
	for _, k := range tagCategories {
		sq, m2 := 0, 0
		for _, f := range r.scrub.files {
			sq += f.sandyq[k]
			if f.mat2 != nil {
				m2 += (*f.mat2)[k]
			}
		}
		switch {
		case sq > m2:
			missed = append(missed, fmt.Sprintf("%s %d left vs %d", k, sq, m2))
		case sq == 0 && m2 == 0:
			clean = append(clean, k)
		}
	}
	var b strings.Builder
	if len(missed) == 0 {
		b.WriteString("met: in every category sandyq-client leaves no more than mat2.")
	} else {
		fmt.Fprintf(&b, "missed (%s). The files: %s.", strings.Join(missed, ", "), strings.Join(files, "; "))
	}
	if len(clean) > 0 {
		fmt.Fprintf(&b, " Neither leaves any %s tag.", strings.Join(clean, " or "))
	}
	if images > 0 && len(imagesLeft) == 0 {
		fmt.Fprintf(&b, " On the %d images (JPEG, PNG, GIF) sandyq-client leaves nothing identifying.", images)
	}
	if len(missed) > 0 {
		b.WriteString(" Why: sandyq-client scrubs JPEG, PNG and GIF and copies other formats unchanged with a " +
			"warning (the exit status is still 0), while mat2 also cleans PDF (by default it renders every page " +
			"again as a 200 dpi image, so the text is no longer text) and office documents (their properties " +
			"dropped, ZIP times reset). What would close it: scrubbers for PDF (drop the info dictionary and the " +
			"XMP metadata streams) and for OOXML and ODF (drop docProps/core.xml and app.xml or meta.xml, reset " +
			"ZIP times), or refusing to export such files with --scrub unless the journalist says so explicitly.")
	}
	return b.String()
}

// writeDoc puts section into the document at path: between the markers if
// they are there, else at the end.
func writeDoc(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, []byte(spliceSection(string(old), section)), 0o644)
}

// spliceSection replaces the generated section of doc (from beginMarker
// to endMarker, both included) with section, or appends section if doc
// has no complete pair of markers.
func spliceSection(doc, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return doc + section
	}
	rest := doc[j+len(endMarker):]
	rest = strings.TrimPrefix(rest, "\n")
	return doc[:i] + section + rest
}
