package codename

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

//go:embed eff_large_wordlist.txt
var wordlistFile string

// listSize is the number of words in the EFF large wordlist (6⁵).
const listSize = 7776

// wordList parses the embedded file once. The result is never modified.
var wordList = sync.OnceValue(func() []string {
	words, problem := parseWordlist(wordlistFile)
	if problem != "" {
		panic("codename: embedded word list is corrupt: " + problem)
	}
	return words
})

// parseWordlist checks and parses the EFF file format: listSize lines
// "DDDDD\tword\n", dice numbers in order from 11111 to 66666, words unique,
// sorted, of a–z and '-' only. It returns a description of the first
// problem instead of an error value to keep the panic message simple.
func parseWordlist(file string) ([]string, string) {
	if !strings.HasSuffix(file, "\n") {
		return nil, "no final newline"
	}
	lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n")
	if len(lines) != listSize {
		return nil, "wrong number of lines"
	}
	words := make([]string, 0, listSize)
	for i, line := range lines {
		dice, word, ok := strings.Cut(line, "\t")
		if !ok || dice != diceNumber(i) {
			return nil, "bad dice number"
		}
		if word == "" || strings.Trim(word, "abcdefghijklmnopqrstuvwxyz-") != "" {
			return nil, "bad word"
		}
		if i > 0 && words[i-1] >= word {
			return nil, "words not unique and sorted"
		}
		words = append(words, word)
	}
	return words, ""
}

// diceNumber returns the five dice digits (1–6) for 0-based index i.
func diceNumber(i int) string {
	var d [5]byte
	for j := 4; j >= 0; j-- {
		d[j] = byte('1' + i%6)
		i /= 6
	}
	return string(d[:])
}

// IsWord reports whether w is in the word list (exactly, lower case).
func IsWord(w string) bool {
	_, ok := slices.BinarySearch(wordList(), w)
	return ok
}

// Word returns the word with 0-based index i (0 ≤ i < 7776).
func Word(i int) string { return wordList()[i] }
