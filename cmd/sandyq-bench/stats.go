package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// summary is what the tables show of a series of runs: the median with the
// smallest and largest value.
type summary struct {
	N                int
	Median, Min, Max float64
}

// summarize returns the median, minimum and maximum of vals. The median of
// an even number of values is the mean of the two middle ones. NaN values
// (a run that could not be measured) are left out; N counts the rest.
func summarize(vals []float64) summary {
	v := make([]float64, 0, len(vals))
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	s := summary{N: len(v), Min: v[0], Max: v[len(v)-1]}
	if len(v)%2 == 1 {
		s.Median = v[len(v)/2]
	} else {
		s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

// pairRatios divides num by den run by run: both series must come from the
// same runs, in the same order, so that each ratio compares two numbers
// measured one right after the other. A run missing on either side, or a
// zero denominator, gives NaN.
func pairRatios(num, den []float64) []float64 {
	n := min(len(num), len(den))
	out := make([]float64, n)
	for i := range n {
		if den[i] == 0 || math.IsNaN(num[i]) || math.IsNaN(den[i]) {
			out[i] = math.NaN()
			continue
		}
		out[i] = num[i] / den[i]
	}
	return out
}

// formatNum prints a value with about three significant digits, without
// an exponent: 1234 → "1234", 12.345 → "12.3", 0.7321 → "0.73".
func formatNum(x float64) string {
	switch ax := math.Abs(x); {
	case math.IsNaN(x):
		return "–"
	case ax >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case ax >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case ax >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	default:
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
}

// formatSummary prints "median (min–max)", or the single value when there
// was one run or all runs agree, or "–" when nothing was measured.
func formatSummary(s summary) string {
	if s.N == 0 {
		return "–"
	}
	med := formatNum(s.Median)
	lo, hi := formatNum(s.Min), formatNum(s.Max)
	if s.N == 1 || lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}

// formatCount is formatSummary for counts: whole numbers, no decimals.
func formatCount(s summary) string {
	if s.N == 0 {
		return "–"
	}
	med := strconv.FormatFloat(s.Median, 'f', 0, 64)
	if s.N == 1 || s.Min == s.Max {
		return med
	}
	return fmt.Sprintf("%s (%.0f–%.0f)", med, s.Min, s.Max)
}

// markdownTable renders a GitHub-flavoured Markdown table. Cells are
// padded so that the table also reads well as plain text in a terminal;
// a "|" inside a cell is escaped.
func markdownTable(header []string, rows [][]string) string {
	width := make([]int, len(header))
	cell := func(row []string, i int) string {
		if i < len(row) {
			return strings.ReplaceAll(row[i], "|", `\|`)
		}
		return ""
	}
	for i, h := range header {
		width[i] = runeLen(h)
		for _, r := range rows {
			width[i] = max(width[i], runeLen(cell(r, i)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i := range header {
			c := cell(row, i)
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-runeLen(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	b.WriteString("|")
	for i := range header {
		b.WriteString(strings.Repeat("-", width[i]+2) + "|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

func runeLen(s string) int { return len([]rune(s)) }

// errNoStatusField is returned by statusKB when the status text has no
// well-formed line for the field (a kernel thread, or a process already
// reaped).
var errNoStatusField = errors.New("field missing from /proc status")

// statusKB returns the value, in bytes, of a "Field:	  123456 kB" line of
// /proc/PID/status text.
func statusKB(status, field string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: malformed %s line %q", errNoStatusField, field, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("%w: malformed %s line %q", errNoStatusField, field, sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%w: no %s line", errNoStatusField, field)
}

// parseVmHWM returns the peak resident set size, in bytes, from the text
// of /proc/PID/status ("VmHWM:	  123456 kB").
func parseVmHWM(status string) (int64, error) { return statusKB(status, "VmHWM") }

// verdict says whether a target is met and by how much it is missed.
// higher tells the target's direction: true for "at least goal" (a
// throughput ratio), false for "below goal" (a memory ratio).
func verdict(got, goal float64, higher bool) string {
	switch {
	case math.IsNaN(got):
		return "not measured"
	case higher && got >= goal, !higher && got < goal:
		return "met"
	case higher:
		return fmt.Sprintf("missed: %s%% short of the target", formatNum(100*(goal-got)/goal))
	case goal == 0:
		return fmt.Sprintf("missed: %s over the target", formatNum(got))
	default:
		return fmt.Sprintf("missed: %s%% over the target", formatNum(100*(got-goal)/goal))
	}
}
