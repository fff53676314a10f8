package codename

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func TestWordlistFile(t *testing.T) {
	sum := sha256.Sum256([]byte(wordlistFile))
	if got := hex.EncodeToString(sum[:]); got != "addd35536511597a02fa0a9ff1e5284677b8883b83e986e43f15a3db996b903e" {
		t.Fatalf("word list SHA-256 %s is not EFF's", got)
	}
	words, problem := parseWordlist(wordlistFile)
	if problem != "" {
		t.Fatal(problem)
	}
	if len(words) != 7776 || words[0] != "abacus" || words[7775] != "zoom" {
		t.Fatalf("unexpected list: %d words", len(words))
	}
	seen := map[string]bool{}
	for i, w := range words {
		if seen[w] {
			t.Fatalf("duplicate word %q", w)
		}
		seen[w] = true
		for _, c := range w {
			if (c < 'a' || c > 'z') && c != '-' {
				t.Fatalf("word %q has %q", w, c)
			}
		}
		if !IsWord(w) || Word(i) != w {
			t.Fatalf("IsWord/Word disagree on %q", w)
		}
	}
	if diceNumber(0) != "11111" || diceNumber(7775) != "66666" {
		t.Fatal("diceNumber")
	}
	for _, bad := range []string{
		strings.TrimSuffix(wordlistFile, "\n"),
		strings.Replace(wordlistFile, "11112\tabdomen", "11112\tabacus", 1),
		strings.Replace(wordlistFile, "11112\tabdomen", "11113\tabdomen", 1),
		strings.Replace(wordlistFile, "abdomen", "Abdomen", 1),
		wordlistFile + "66667\tzzz\n",
	} {
		if _, p := parseWordlist(bad); p == "" {
			t.Error("corrupted word list accepted")
		}
	}
	for _, w := range []string{"", "Abacus", "abacus ", "zzzz", "abacus\x00"} {
		if IsWord(w) {
			t.Errorf("IsWord(%q)", w)
		}
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate(testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(testRand(1))
	c, _ := Generate(testRand(2))
	if a != b || a == c {
		t.Fatal("Generate is not a function of its reader")
	}
	words := strings.Split(a, " ")
	if len(words) != Words {
		t.Fatalf("%d words", len(words))
	}
	if n, err := Normalize(a); err != nil || n != a {
		t.Fatalf("generated codename does not normalize to itself: %v", err)
	}
	if _, err := Generate(bytes.NewReader(make([]byte, 13))); err == nil {
		t.Fatal("short reader accepted")
	}
}

// Values ≥ 62208 must be rejected, not reduced modulo 7776.
func TestGenerateRejection(t *testing.T) {
	var in []byte
	for range Words {
		in = append(in, 0xff, 0xff) // 65535: rejected
		in = append(in, 0xf2, 0xff) // 62207: accepted, index 62207 % 7776 = 7775
	}
	got, err := Generate(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(strings.Repeat("zoom ", Words)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// 0xf300 = 62208 is the first rejected value.
	in = []byte{0xf3, 0x00, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6}
	got, _ = Generate(bytes.NewReader(in))
	if want := "abacus abdomen abdominal abide abiding ability ablaze"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestGenerateUniform(t *testing.T) {
	r := testRand(3)
	counts := make([]int, listSize)
	const n = 20000 // × 7 words
	for range n {
		s, err := Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Split(s, " ") {
			i, _ := indexOf(w)
			counts[i]++
		}
	}
	// Chi-squared with 7775 degrees of freedom: mean 7775, sd ≈ 125.
	exp := float64(n*Words) / listSize
	var chi float64
	for _, c := range counts {
		d := float64(c) - exp
		chi += d * d / exp
	}
	if chi > 7775+6*125 || chi < 7775-6*125 {
		t.Fatalf("chi-squared %.0f is far from 7775", chi)
	}
}

func indexOf(w string) (int, bool) {
	for i, x := range wordList() {
		if x == w {
			return i, true
		}
	}
	return -1, false
}

func TestNormalize(t *testing.T) {
	const canon = "abacus abdomen abdominal abide abiding ability ablaze"
	ok := []string{
		canon,
		"ABACUS Abdomen abdominal abide abiding ability ablaze",
		"  abacus\tabdomen\nabdominal\r\nabide   abiding ability ablaze \n",
		"abacus\u00a0abdomen\u00a0\u00a0abdominal\u2003abide\u3000abiding\u0085ability\u202fablaze",
		"abacus\v\fabdomen abdominal abide abiding ability ablaze",
	}
	for _, s := range ok {
		got, err := Normalize(s)
		if err != nil || got != canon {
			t.Errorf("Normalize(%q) = %q, %v", s, got, err)
		}
	}
	bad := []struct {
		s    string
		want error
	}{
		{"", ErrInvalid},
		{"abacus abdomen abdominal abide abiding ability", ErrInvalid},
		{canon + " zoom", ErrInvalid},
		{"abacus abdomen abdominal abide abiding ability ablazee", ErrInvalid},
		{"abacus-abdomen abdominal abide abiding ability ablaze x", ErrInvalid},
		{"abacus abdomen abdominal abide abiding ability abla\xffze", ErrInvalid},
		{"abacus\u200babdomen abdominal abide abiding ability ablaze zoom", ErrInvalid}, // ZWSP is not a space
		{strings.Repeat(" ", MaxInput-len(canon)) + canon, nil},
		{strings.Repeat(" ", MaxInput-len(canon)+1) + canon, ErrTooLong},
		{strings.Repeat("\xff", MaxInput+1), ErrTooLong}, // length checked first
	}
	for _, tc := range bad {
		got, err := Normalize(tc.s)
		if tc.want == nil {
			if err != nil || got != canon {
				t.Errorf("Normalize(%d bytes): %v", len(tc.s), err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("Normalize(%q): %v, want %v", tc.s, err, tc.want)
		}
		for _, w := range strings.Fields(tc.s) {
			if len(w) > 3 && strings.Contains(err.Error(), w) {
				t.Errorf("error %q echoes input word %q", err, w)
			}
		}
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("abacus abdomen abdominal abide abiding ability ablaze")
	f.Add("  ZOOM\tzoom\u00a0zoom zoom zoom zoom zoom\n")
	f.Add("abacus")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("unexpected error %v", err)
			}
			if len(s) > MaxInput && !errors.Is(err, ErrTooLong) {
				t.Fatalf("over-long input not refused first: %v", err)
			}
			return
		}
		if len(s) > MaxInput || !utf8.ValidString(s) {
			t.Fatal("accepted input that must be refused")
		}
		if n2, err := Normalize(n); err != nil || n2 != n {
			t.Fatalf("Normalize is not idempotent: %q → %q, %v", n, n2, err)
		}
		w := strings.Split(n, " ")
		if len(w) != Words {
			t.Fatalf("%d words", len(w))
		}
		for _, x := range w {
			if !IsWord(x) {
				t.Fatalf("accepted non-word")
			}
		}
	})
}
