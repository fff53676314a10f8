package web

import (
	"strings"
	"testing"
)

func scanSession(t *testing.T, name string) *sourceSession {
	t.Helper()
	src := &sourceSession{}
	copy(src.macKey[:], "a per-session key, 32 bytes long")
	src.mac = codenameMAC(src.macKey, name)
	return src
}

func TestCodenameScanner(t *testing.T) {
	const name = "abacus abdomen t-shirt yo-yo zoom acid bagel"
	for _, tc := range []struct {
		text  string
		found bool
	}{
		{name, true},
		{"my codename is " + name + ", please keep it", true},
		{"ABACUS Abdomen T-SHIRT yo-yo\nzoom\tacid  bagel.", true},
		{"x:abacus,abdomen;t-shirt(yo-yo)zoom!acid?bagel", true},
		{"abacus abdomen t-shirt yo-yo zoom acid", false}, // six words
		{"abacus abdomen t-shirt yo-yo zoom acid bagels", false},
		{"abacus abdomen t-shirt yo-yo zoomzoomzoomzoomzoomzoom acid bagel", false},
		{"abacus abdomen tshirt yo-yo zoom acid bagel", false},
		{strings.Repeat("word ", 10000) + name, true},
		{"", false},
	} {
		src := scanSession(t, name)
		// Feed it in small pieces: the scan must not depend on chunking.
		for _, step := range []int{1, 3, 7, 4096} {
			s := newCodenameScanner(src)
			for i := 0; i < len(tc.text); i += step {
				s.Write([]byte(tc.text[i:min(i+step, len(tc.text))]))
			}
			if got := s.Found(); got != tc.found {
				t.Errorf("step %d: Found(%.60q) = %v, want %v", step, tc.text, got, tc.found)
			}
		}
	}
}

// FuzzCodenameScanner compares the streaming scanner, fed in pieces, with
// a plain reading of the whole text by the same word rules.
func FuzzCodenameScanner(f *testing.F) {
	f.Add("abacus abdomen t-shirt yo-yo zoom acid bagel", 3)
	f.Add("x ABACUS,abdomen t-shirt\nyo-yo zoom acid bagel.", 1)
	f.Add("abacus abdomen t-shirt yo-yo zoom acid bagelx", 5)
	f.Fuzz(func(t *testing.T, text string, step int) {
		const name = "abacus abdomen t-shirt yo-yo zoom acid bagel"
		step = 1 + abs(step)%64
		s := newCodenameScanner(scanSession(t, name))
		for i := 0; i < len(text); i += step {
			s.Write([]byte(text[i:min(i+step, len(text))]))
		}
		if got, want := s.Found(), naiveContains(text, name); got != want {
			t.Errorf("scanner says %v, plain reading says %v", got, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// naiveContains splits the whole text into words as the scanner does and
// looks for the codename's words in a row.
func naiveContains(text, name string) bool {
	var words []string
	var cur strings.Builder
	long := false
	flush := func() {
		switch {
		case long:
			words = append(words, "\x00") // breaks every run
		case cur.Len() > 0:
			words = append(words, cur.String())
		}
		cur.Reset()
		long = false
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' || c == '-' {
			if cur.Len() == maxWordLen {
				long = true
			} else {
				cur.WriteByte(c)
			}
			continue
		}
		flush()
	}
	flush()
	want := strings.Fields(name)
	for i := 0; i+len(want) <= len(words); i++ {
		if strings.Join(words[i:i+len(want)], " ") == name {
			return true
		}
	}
	return false
}
