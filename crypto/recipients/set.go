package recipients

import (
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
)

// MaxRecipients is the largest number of recipients in a set.
const MaxRecipients = 64

// Set is a recipient set. Use [NewSet] to make one and [Parse] to read a
// signed one; a Set built by hand must pass [Set.Validate].
type Set struct {
	ID                  [16]byte  // random
	Kind                Kind      // of every recipient
	NotBefore, NotAfter time.Time // validity window [NotBefore, NotAfter), UTC, whole seconds
	Recipients          []string  // canonical age recipient strings, in the given order, no duplicates
}

// Earliest and latest times a validity window may name.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// NewSet returns a set of the given recipients with a random ID read from
// rand and the validity window [notBefore, notAfter), converted to UTC and
// truncated to whole seconds. Recipients are canonicalized and kept in the
// given order. It refuses secret keys, invalid recipients, a mix of kinds,
// an empty set, duplicates, more than MaxRecipients and an empty window.
func NewSet(rand io.Reader, recipients []string, notBefore, notAfter time.Time) (*Set, error) {
	s := &Set{
		NotBefore: notBefore.UTC().Truncate(time.Second),
		NotAfter:  notAfter.UTC().Truncate(time.Second),
	}
	if len(recipients) > MaxRecipients {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooMany, len(recipients), MaxRecipients)
	}
	for i, r := range recipients {
		c, k, err := Canonical(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %d: %w", i+1, err)
		}
		if s.Kind == "" {
			s.Kind = k
		}
		s.Recipients = append(s.Recipients, c)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand, s.ID[:]); err != nil {
		return nil, fmt.Errorf("failed to read random set ID: %w", err)
	}
	return s, nil
}

// Validate checks every rule of a set: kind, recipients (valid, canonical,
// all of the set's kind, no duplicates, 1 to MaxRecipients) and window.
func (s *Set) Validate() error {
	if s.Kind != PQ && s.Kind != X25519 {
		if len(s.Recipients) == 0 {
			return ErrEmptySet
		}
		return fmt.Errorf("%w: unknown kind", ErrBadRecipient)
	}
	if len(s.Recipients) == 0 {
		return ErrEmptySet
	}
	if len(s.Recipients) > MaxRecipients {
		return fmt.Errorf("%w: %d, at most %d", ErrTooMany, len(s.Recipients), MaxRecipients)
	}
	seen := make(map[string]bool, len(s.Recipients))
	for i, r := range s.Recipients {
		c, k, err := Canonical(r)
		if err != nil {
			return fmt.Errorf("recipient %d: %w", i+1, err)
		}
		if c != r {
			return fmt.Errorf("recipient %d: %w: not in canonical (lower-case) form", i+1, ErrBadRecipient)
		}
		if k != s.Kind {
			return fmt.Errorf("recipient %d: %w", i+1, ErrMixedKinds)
		}
		if seen[r] {
			return fmt.Errorf("recipient %d: %w", i+1, ErrDuplicate)
		}
		seen[r] = true
	}
	return s.checkWindow()
}

func (s *Set) checkWindow() error {
	for _, t := range []time.Time{s.NotBefore, s.NotAfter} {
		if t.Location() != time.UTC || t.Nanosecond() != 0 || t.Before(minTime) || t.After(maxTime) {
			return fmt.Errorf("%w: times must be UTC whole seconds in years 1970–9999", ErrBadWindow)
		}
	}
	if !s.NotBefore.Before(s.NotAfter) {
		return fmt.Errorf("%w: not-before is not before not-after", ErrBadWindow)
	}
	return nil
}

// AgeRecipients returns the parsed recipients, ready for age.Encrypt.
func (s *Set) AgeRecipients() ([]age.Recipient, error) {
	out := make([]age.Recipient, 0, len(s.Recipients))
	for i, r := range s.Recipients {
		a, k, err := ParseRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %d: %w", i+1, err)
		}
		if k != s.Kind {
			return nil, fmt.Errorf("recipient %d: %w", i+1, ErrMixedKinds)
		}
		out = append(out, a)
	}
	return out, nil
}

// ValidAt reports whether t is in the set's window [NotBefore, NotAfter).
func (s *Set) ValidAt(t time.Time) bool {
	return !t.Before(s.NotBefore) && t.Before(s.NotAfter)
}

// CheckTime returns ErrNotYetValid or ErrExpired if t is outside the window.
func (s *Set) CheckTime(t time.Time) error {
	switch {
	case t.Before(s.NotBefore):
		return ErrNotYetValid
	case !t.Before(s.NotAfter):
		return ErrExpired
	}
	return nil
}

// IDString returns the set ID as 32 lower-case hex digits.
func (s *Set) IDString() string { return hex.EncodeToString(s.ID[:]) }
