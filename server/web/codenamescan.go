package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"

	"sandyq/crypto/codename"
)

// A source who pastes its codename into a message hands it to whoever can
// read the message later. The handler warns before encrypting anything, but
// it does not know the codename: a session keeps only an HMAC of it under a
// random per-session key (see sourceSession). codenameScanner reads the
// message as it streams in and tests every run of codename.Words
// consecutive words against that HMAC, holding no more than the last
// codename.Words words (each at most maxWordLen bytes) of the text.
//
// Words are what codename.Normalize accepts, after ASCII lower-casing:
// letters a–z and the hyphen (the EFF list has "t-shirt" and "yo-yo"); every
// other byte separates words, so punctuation and line breaks around the
// codename do not hide it.

// maxWordLen is longer than any word of the EFF large list (9 bytes); a
// longer run of letters cannot be part of a codename.
const maxWordLen = 16

type codenameScanner struct {
	mac  hash.Hash
	want [32]byte

	words [codename.Words][maxWordLen]byte // ring of the last words
	lens  [codename.Words]int
	next  int // ring position of the next word
	count int // words in the ring, up to codename.Words

	cur     [maxWordLen]byte // the word being read
	curLen  int
	tooLong bool
	found   bool
	joined  []byte
}

func newCodenameScanner(src *sourceSession) *codenameScanner {
	return &codenameScanner{
		mac:    hmac.New(sha256.New, src.macKey[:]),
		want:   src.mac,
		joined: make([]byte, 0, codename.Words*(maxWordLen+1)),
	}
}

// codenameMAC is the HMAC a session keeps of its normalised codename.
func codenameMAC(key [32]byte, normalized string) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(normalized))
	var sum [32]byte
	m.Sum(sum[:0])
	return sum
}

// Write scans p. It never fails.
func (s *codenameScanner) Write(p []byte) (int, error) {
	for _, c := range p {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if ('a' <= c && c <= 'z') || c == '-' {
			if s.curLen == maxWordLen {
				s.tooLong = true
			} else {
				s.cur[s.curLen] = c
				s.curLen++
			}
			continue
		}
		s.endWord()
	}
	return len(p), nil
}

// Found ends the text and reports whether it contained the codename.
func (s *codenameScanner) Found() bool {
	s.endWord()
	return s.found
}

func (s *codenameScanner) endWord() {
	if s.curLen == 0 && !s.tooLong {
		return
	}
	if s.tooLong {
		// No codename runs through an overlong word.
		s.count, s.curLen, s.tooLong = 0, 0, false
		return
	}
	s.words[s.next] = s.cur
	s.lens[s.next] = s.curLen
	s.next = (s.next + 1) % codename.Words
	s.count = min(s.count+1, codename.Words)
	s.curLen = 0
	if s.count == codename.Words && !s.found {
		s.check()
	}
}

// check compares the last codename.Words words, joined by single spaces as
// codename.Normalize joins them, with the session's HMAC.
func (s *codenameScanner) check() {
	s.joined = s.joined[:0]
	for i := range codename.Words {
		j := (s.next + i) % codename.Words
		if i > 0 {
			s.joined = append(s.joined, ' ')
		}
		s.joined = append(s.joined, s.words[j][:s.lens[j]]...)
	}
	s.mac.Reset()
	s.mac.Write(s.joined)
	var sum [32]byte
	if hmac.Equal(s.mac.Sum(sum[:0]), s.want[:]) {
		s.found = true
	}
	clear(s.joined[:cap(s.joined)])
}
