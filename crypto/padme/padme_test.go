package padme

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestKnownValues(t *testing.T) {
	tests := []struct{ n, want int64 }{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, {7, 7}, {8, 8}, {9, 10}, {10, 10},
		{11, 12}, {15, 16}, {16, 16}, {17, 18}, {33, 36}, {65, 72},
		{100, 104}, {129, 144}, {257, 272}, {1000, 1024}, {1025, 1088},
		{4097, 4352}, {65537, 67584}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<15},
		{1_000_000, 1_015_808}, {MaxLen, MaxLen},
	}
	for _, tc := range tests {
		if got := Len(tc.n); got != tc.want {
			t.Errorf("Len(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestVectorFile checks crypto/testdata/padme.txt, the table referenced by
// docs/format.md.
func TestVectorFile(t *testing.T) {
	f, err := os.Open("../testdata/padme.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			t.Fatalf("bad line %q", line)
		}
		in, err1 := strconv.ParseInt(fields[0], 10, 64)
		want, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", line)
		}
		if got := Len(in); got != want {
			t.Errorf("Len(%d) = %d, file says %d", in, got, want)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d vectors", n)
	}
}

func checkProperties(t *testing.T, n int64) {
	t.Helper()
	l := Len(n)
	if l < n {
		t.Fatalf("Len(%d) = %d < n", n, l)
	}
	if n > 0 && float64(l-n) > 0.12*float64(n) {
		t.Fatalf("Len(%d) = %d: overhead %.2f%% > 12%%", n, l, 100*float64(l-n)/float64(n))
	}
	if Len(l) != l {
		t.Fatalf("Len(Len(%d)) = %d != %d", n, Len(l), l)
	}
	if n > 0 && Len(n-1) > l {
		t.Fatalf("not monotonic: Len(%d) = %d > Len(%d) = %d", n-1, Len(n-1), n, l)
	}
}

func TestPropertiesExhaustive(t *testing.T) {
	limit := int64(1 << 20)
	if testing.Short() {
		limit = 1 << 16
	}
	for n := range limit {
		checkProperties(t, n)
	}
}

func TestPropertiesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		checkProperties(t, r.Int64N(MaxLen))
	}
	for e := range 62 {
		for _, d := range []int64{-1, 0, 1} {
			if n := int64(1)<<e + d; n >= 0 {
				checkProperties(t, n)
			}
		}
	}
}

// The padded length reveals O(log log n) bits: the number of distinct padded
// lengths in [2^e, 2^(e+1)) is at most 2^S + 1 = 2^(⌊log₂ e⌋+1) + 1 ≤ 2e + 1.
func TestLeakage(t *testing.T) {
	for e := 3; e <= 20; e++ {
		seen := map[int64]bool{}
		for n := int64(1) << e; n < int64(1)<<(e+1); n++ {
			seen[Len(n)] = true
		}
		if len(seen) > 2*e+1 {
			t.Errorf("e=%d: %d distinct padded lengths > 2e+1", e, len(seen))
		}
	}
}

func TestPanics(t *testing.T) {
	for _, n := range []int64{-1, MaxLen + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Len(%d) did not panic", n)
				}
			}()
			Len(n)
		}()
	}
}
