package recipients

import (
	"fmt"
	"strings"

	"filippo.io/age"

	"sandyq/crypto/internal/bech32"
	"sandyq/crypto/sign"
)

// Kind is the kind of age recipient in a set.
type Kind string

const (
	// PQ is the post-quantum hybrid recipient, "age1pq1…" (ML-KEM-768 +
	// X25519). It is the default.
	PQ Kind = "pq"
	// X25519 is the classic age recipient, "age1…".
	X25519 Kind = "x25519"
)

// maxRecipientLen bounds the length of a recipient string. A hybrid
// recipient is 1959 characters.
const maxRecipientLen = 4096

// ParseRecipient parses an age recipient, "age1pq1…" or "age1…", ignoring
// surrounding white space. It refuses secret keys with [ErrSecretKey] and
// anything else with an error wrapping [ErrBadRecipient]; errors never
// contain s.
func ParseRecipient(s string) (age.Recipient, Kind, error) {
	r, k, _, err := parseRecipient(s)
	return r, k, err
}

// Canonical returns the canonical (lower-case) string of the recipient s and
// its kind, or the error ParseRecipient would return.
func Canonical(s string) (string, Kind, error) {
	_, k, c, err := parseRecipient(s)
	return c, k, err
}

func parseRecipient(s string) (age.Recipient, Kind, string, error) {
	if sign.LooksSecret(s) {
		return nil, "", "", ErrSecretKey
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "", "", fmt.Errorf("%w: empty", ErrBadRecipient)
	}
	if len(s) > maxRecipientLen {
		return nil, "", "", fmt.Errorf("%w: too long", ErrBadRecipient)
	}
	hrp, _, err := bech32.Decode(s)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %v", ErrBadRecipient, err)
	}
	lower := strings.ToLower(s)
	switch h := strings.ToLower(hrp); {
	case h == "age1pq":
		r, err := age.ParseHybridRecipient(lower)
		if err != nil {
			return nil, "", "", fmt.Errorf("%w: not a valid ML-KEM-768 + X25519 public key", ErrBadRecipient)
		}
		return r, PQ, r.String(), nil
	case h == "age":
		r, err := age.ParseX25519Recipient(lower)
		if err != nil {
			return nil, "", "", fmt.Errorf("%w: not a valid X25519 public key", ErrBadRecipient)
		}
		return r, X25519, r.String(), nil
	case strings.HasPrefix(h, "age1"):
		return nil, "", "", fmt.Errorf("%w: age plugin recipients are not supported", ErrBadRecipient)
	case strings.HasPrefix(h, "sandyq-"):
		return nil, "", "", fmt.Errorf("%w: this is a sandyq signing key, not an age recipient", ErrBadRecipient)
	default:
		return nil, "", "", fmt.Errorf("%w: not an age recipient", ErrBadRecipient)
	}
}
