package main

import (
	"bytes"
	"errors"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

// These tests cover the pure parts of the benchmark: statistics, table
// formatting, /proc parsing, tag counting and the document splice. No
// benchmark runs here.

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		name          string
		in            []float64
		n             int
		med, min, max float64
	}{
		{"odd", []float64{3, 1, 2}, 3, 2, 1, 3},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, 4, 2.5, 1, 4},
		{"one", []float64{7}, 1, 7, 7, 7},
		{"NaN runs left out", []float64{nan, 5, 1, nan}, 2, 3, 1, 5},
	} {
		s := summarize(c.in)
		if s.N != c.n || s.Median != c.med || s.Min != c.min || s.Max != c.max {
			t.Errorf("%s: summarize(%v) = %+v, want n=%d median=%v min=%v max=%v", c.name, c.in, s, c.n, c.med, c.min, c.max)
		}
	}
	if s := summarize([]float64{nan}); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("summarize of nothing measured = %+v, want N 0 and a NaN median", s)
	}
	in := []float64{3, 1, 2}
	summarize(in)
	if in[0] != 3 || in[1] != 1 {
		t.Errorf("summarize reordered its input: %v", in)
	}
}

func TestPairRatios(t *testing.T) {
	got := pairRatios([]float64{10, 20, 30, nan, 5}, []float64{5, 10, 0, 1, nan})
	want := []float64{2, 2, nan, nan, nan}
	if len(got) != len(want) {
		t.Fatalf("pairRatios gave %d ratios, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Errorf("ratio %d = %v, want %v", i, got[i], want[i])
		}
	}
	// Ratios are taken run by run, not as a ratio of medians.
	s := summarize(pairRatios([]float64{100, 1, 50}, []float64{200, 1, 100}))
	if s.Median != 0.5 || s.Min != 0.5 || s.Max != 1 {
		t.Errorf("summary of pairwise ratios = %+v, want median 0.5, min 0.5, max 1", s)
	}
	if got := pairRatios([]float64{1, 2, 3}, []float64{1}); len(got) != 1 {
		t.Errorf("series of unequal length: %d ratios, want 1", len(got))
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		s    summary
		want string
	}{
		{summarize([]float64{152.3, 148.9, 160.2}), "152 (149–160)"},
		{summarize([]float64{0.7321, 0.70, 0.75}), "0.732 (0.700–0.750)"},
		{summarize([]float64{12.34}), "12.3"},
		{summarize([]float64{2.5, 2.5}), "2.50"},
		{summarize(nil), "–"},
	} {
		if got := formatSummary(c.s); got != c.want {
			t.Errorf("formatSummary(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
	if got := formatCount(summarize([]float64{60, 58, 60})); got != "60 (58–60)" {
		t.Errorf("formatCount = %q, want %q", got, "60 (58–60)")
	}
	for n, want := range map[int64]string{1 << 30: "1 GiB", 64 << 20: "64 MiB", 4096: "4 KiB", 1000: "1000 bytes"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMarkdownTable(t *testing.T) {
	got := markdownTable([]string{"System", "MB/s"}, [][]string{
		{"sandyq", "152 (149–160)"},
		{"a|b", "7"},
		{"short"}, // a missing cell is empty
	})
	want := "" +
		"| System | MB/s          |\n" +
		"|--------|---------------|\n" +
		"| sandyq | 152 (149–160) |\n" +
		"| a\\|b   | 7             |\n" +
		"| short  |               |\n"
	if got != want {
		t.Errorf("markdownTable:\n%s\nwant:\n%s", got, want)
	}
}

const statusSample = `Name:	sandyq
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1903124 kB
VmSize:	 1839540 kB
VmHWM:	  175296 kB
VmRSS:	  160032 kB
RssAnon:	   61120 kB
RssFile:	   98912 kB
RssShmem:	       0 kB
Threads:	9
`

func TestStatusParsing(t *testing.T) {
	hwm, err := parseVmHWM(statusSample)
	if err != nil || hwm != 175296<<10 {
		t.Errorf("parseVmHWM = %d, %v; want %d", hwm, err, 175296<<10)
	}
	anon, err := statusKB(statusSample, "RssAnon")
	if err != nil || anon != 61120<<10 {
		t.Errorf("statusKB RssAnon = %d, %v; want %d", anon, err, 61120<<10)
	}
	for _, bad := range []string{
		"Name:	kthreadd\nState:	S (sleeping)\n", // kernel threads have no Vm lines
		"VmHWM:	 12 MB\n",
		"VmHWM:	 lots kB\n",
		"VmHWM:	 -5 kB\n",
		"",
	} {
		if _, err := parseVmHWM(bad); !errors.Is(err, errNoStatusField) {
			t.Errorf("parseVmHWM(%q): err %v, want errNoStatusField", bad, err)
		}
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		got, goal float64
		higher    bool
		want      string
	}{
		{0.75, 0.7, true, "met"},
		{0.35, 0.7, true, "missed: 50.0% short of the target"},
		{12, 10, true, "met"},
		{0.5, 1, false, "met"},
		{2, 1, false, "missed: 100% over the target"},
		{nan, 1, true, "not measured"},
	} {
		if got := verdict(c.got, c.goal, c.higher); got != c.want {
			t.Errorf("verdict(%v, %v, %v) = %q, want %q", c.got, c.goal, c.higher, got, c.want)
		}
	}
}

func TestCountTags(t *testing.T) {
	js := `[{
	  "SourceFile": "a.jpg",
	  "ExifTool:ExifToolVersion": 12.57,
	  "System:FileName": "PLANTED-AUTHOR.jpg",
	  "File:FileModifyDate": "2013:07:19 08:42:17",
	  "IFD0:Artist": "Aigerim PLANTED-AUTHOR",
	  "IFD0:Software": "PLANTED-SOFTWARE 2.1",
	  "IFD0:Make": "PlantedCam",
	  "ExifIFD:SerialNumber": "PLANTED-SERIAL-4711",
	  "ExifIFD:DateTimeOriginal": "2013:07:19 08:42:17",
	  "GPS:GPSVersionID": "2.3.0.0",
	  "GPS:GPSLatitude": "43 deg 14' 20.22\"",
	  "GPS:GPSLongitude": 76.889709,
	  "Composite:GPSPosition": "43 deg 14' 20.22\" N, 76 deg 53' 22.95\" E",
	  "XMP-dc:Creator": ["Aigerim PLANTED-AUTHOR", "someone"],
	  "ZIP:ZipModifyDate": "2013:07:19 08:42:16",
	  "ZIP:Copy1:ZipModifyDate": "2013:07:19 08:42:16",
	  "XML:CreateDate": "2013-07-19T08:42:17Z"
	}, {
	  "SourceFile": "clean.jpg",
	  "JFIF:JFIFVersion": "1 1",
	  "PDF:Producer": "cairo 1.16.0 (https://cairographics.org)"
	}]`
	counts, err := countTags([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := tagCount{"GPS": 2, "serial": 1, "author": 2, "software": 1, "timestamp": 4}
	got := counts["a.jpg"]
	for _, k := range tagCategories {
		if got[k] != want[k] {
			t.Errorf("a.jpg %s: %d tags, want %d (all: %v)", k, got[k], want[k], got)
		}
	}
	if c, ok := counts["clean.jpg"]; !ok || c.total() != 0 {
		t.Errorf("clean.jpg: %v, %v; want present with no identifying tag", c, ok)
	}
	if _, err := countTags([]byte("Error: file not found")); err == nil {
		t.Error("countTags accepted output that is not JSON")
	}
}

func TestParseList(t *testing.T) {
	out := "# 0123456789abcdef: 2 items; reply recipient known\n" +
		"10a1b2c3d4e5f60718293a4b5c6d7e8f\t0123456789abcdef\tfile\t0\t2026-11-26\t12345\t\"photo \\\"1\\\".jpg\"\n" +
		"20a1b2c3d4e5f60718293a4b5c6d7e8f\t0123456789abcdef\tmessage\t1\t2026-11-26\t400\t-\n"
	items, err := parseList(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].name != `photo "1".jpg` || items[0].kind != "file" ||
		items[0].id != "10a1b2c3d4e5f60718293a4b5c6d7e8f" || items[1].name != "-" {
		t.Errorf("parseList = %+v", items)
	}
	if _, err := parseList("not\ta\tlist\n"); err == nil {
		t.Error("parseList accepted a line with 3 columns")
	}
}

func TestSpliceSection(t *testing.T) {
	section := beginMarker + "\nnew numbers\n" + endMarker + "\n"
	doc := "# sandyq performance\n\nintro\n\n" + beginMarker + "\nold numbers\n" + endMarker + "\n\n## In-package ratios\n\nkept\n"
	got := spliceSection(doc, section)
	want := "# sandyq performance\n\nintro\n\n" + beginMarker + "\nnew numbers\n" + endMarker + "\n\n## In-package ratios\n\nkept\n"
	if got != want {
		t.Errorf("splice between markers:\n%s\nwant:\n%s", got, want)
	}
	if again := spliceSection(got, section); again != got {
		t.Errorf("splicing the same section twice changed the document:\n%s", again)
	}
	got = spliceSection("# title\n\ntext\n", section)
	if got != "# title\n\ntext\n\n"+section {
		t.Errorf("append without markers:\n%q", got)
	}
	if got := spliceSection("", section); got != section {
		t.Errorf("new document: %q", got)
	}
}

func TestFormBody(t *testing.T) {
	body, n := formBody(
		part{Name: "csrf", Value: "tok"},
		part{Name: "file", Filename: "a.bin", Size: 100000, Seed: 3},
		part{Name: "file", Filename: "b.txt", Data: []byte("hello")},
	)
	data, err := io.ReadAll(body())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != n {
		t.Fatalf("body is %d bytes, formBody said %d", len(data), n)
	}
	again, _ := io.ReadAll(body())
	if !bytes.Equal(data, again) {
		t.Fatal("two readers of the same body differ")
	}
	_, params, err := mime.ParseMediaType(multipartType)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(data), params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(p)
		got = append(got, p.FormName()+"/"+p.FileName()+"/"+string(rune('0'+len(content)%10)))
		if p.FileName() == "a.bin" && len(content) != 100000 {
			t.Errorf("a.bin: %d bytes, want 100000", len(content))
		}
	}
	if strings.Join(got, " ") != "csrf//3 file/a.bin/0 file/b.txt/5" {
		t.Errorf("parts %v", got)
	}
}
