package recipients

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"sandyq/crypto/sign"
)

// MaxSize is the largest signed statement, in bytes. 64 hybrid recipients
// take about 126,200 bytes.
const MaxSize = 128 << 10

// Context is the signature context of recipient sets (see package sign).
const Context = "recipient-set"

const (
	firstLine     = "sandyq recipient set v1"
	timeLayout    = "2006-01-02T15:04:05Z"
	sigPrefix     = "signature: "
	signerPrefix  = "signer: "
	sigEncodedLen = 86 // unpadded base64 of 64 bytes
)

var b64 = base64.RawStdEncoding.Strict()

// Signed is a set read from a signed statement.
type Signed struct {
	Set
	Raw    []byte // the exact statement, signature included
	Signer string // fingerprint of the newsroom key that signed it
}

// body returns the statement without the signature line.
func (s *Set) body(signer *sign.PublicKey) []byte {
	var b bytes.Buffer
	b.WriteString(firstLine + "\n")
	b.WriteString("id: " + s.IDString() + "\n")
	b.WriteString("kind: " + string(s.Kind) + "\n")
	b.WriteString("not-before: " + s.NotBefore.Format(timeLayout) + "\n")
	b.WriteString("not-after: " + s.NotAfter.Format(timeLayout) + "\n")
	for _, r := range s.Recipients {
		b.WriteString("recipient: " + r + "\n")
	}
	b.WriteString(signerPrefix + signer.String() + "\n")
	return b.Bytes()
}

func appendSignature(body, sig []byte) []byte {
	out := append(bytes.Clone(body), sigPrefix...)
	out = append(out, b64.EncodeToString(sig)...)
	return append(out, '\n')
}

// Sign returns the signed statement of s, signed by the newsroom key k.
// s must pass Validate.
func (s *Set) Sign(k *sign.PrivateKey) ([]byte, error) {
	if k.Kind() != sign.Newsroom {
		return nil, fmt.Errorf("recipient sets are signed with a newsroom key, not a %s key", k.Kind())
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	body := s.body(k.Public())
	out := appendSignature(body, k.Sign(Context, body))
	if len(out) > MaxSize {
		return nil, ErrTooLarge
	}
	return out, nil
}

// ReadSigned reads at most MaxSize bytes from r and parses them with Parse.
// Longer input gives ErrTooLarge without being read further.
func ReadSigned(r io.Reader, newsroom *sign.PublicKey) (*Signed, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read recipient set: %w", err)
	}
	return Parse(data, newsroom)
}

// Parse checks a signed statement against the pinned newsroom key and
// returns its set. See the package documentation for the order of checks.
func Parse(data []byte, newsroom *sign.PublicKey) (*Signed, error) {
	body, sig, err := split(data)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(body), "\n")
	last := lines[len(lines)-2] // SplitAfter leaves a final "" after the last "\n"
	if !strings.HasPrefix(last, signerPrefix) {
		return nil, lineErr(len(lines)-1, "want a signer line before the signature")
	}
	if last != signerPrefix+newsroom.String()+"\n" {
		return nil, ErrWrongSigner
	}
	if !newsroom.Verify(Context, body, sig) {
		return nil, ErrBadSignature
	}
	set, _, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	return &Signed{Set: *set, Raw: bytes.Clone(data), Signer: newsroom.Fingerprint()}, nil
}

// split applies the checks on the whole statement (size, UTF-8, no CR, final
// newline) and splits off the signature line.
func split(data []byte) (body, sig []byte, err error) {
	if len(data) > MaxSize {
		return nil, nil, fmt.Errorf("%w: %w: more than %d bytes", ErrMalformed, ErrTooLarge, MaxSize)
	}
	if !utf8.Valid(data) {
		return nil, nil, fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	}
	if i := bytes.IndexByte(data, '\r'); i >= 0 {
		return nil, nil, lineErr(bytes.Count(data[:i], []byte("\n"))+1, "carriage return")
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, nil, fmt.Errorf("%w: does not end with a newline", ErrMalformed)
	}
	start := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	n := bytes.Count(data[:start], []byte("\n")) + 1
	last := data[start : len(data)-1]
	enc, ok := bytes.CutPrefix(last, []byte(sigPrefix))
	if !ok || start == 0 {
		return nil, nil, lineErr(n, "want the signature line last")
	}
	if len(enc) != sigEncodedLen {
		return nil, nil, lineErr(n, "signature has the wrong length")
	}
	sig, err = b64.DecodeString(string(enc))
	if err != nil {
		return nil, nil, lineErr(n, "signature is not valid base64")
	}
	return data[:start], sig, nil
}

func lineErr(n int, msg string) error {
	return fmt.Errorf("%w: line %d: %s", ErrMalformed, n, msg)
}

// parseBody parses everything before the signature line. It returns the set
// and the signer key string.
func parseBody(body []byte) (*Set, string, error) {
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	s := &Set{}
	n := 0 // index into lines
	next := func(field string) (string, error) {
		if n >= len(lines) {
			return "", lineErr(n+1, "missing "+field)
		}
		v, ok := strings.CutPrefix(lines[n], field+": ")
		n++
		if !ok {
			return "", lineErr(n, "want field "+field)
		}
		return v, nil
	}
	if len(lines) == 0 || lines[0] != firstLine {
		if strings.HasPrefix(lines[0], "sandyq recipient set ") {
			return nil, "", lineErr(1, "unsupported version")
		}
		return nil, "", lineErr(1, "not a sandyq recipient set")
	}
	n = 1

	v, err := next("id")
	if err != nil {
		return nil, "", err
	}
	id, err := hex.DecodeString(v)
	if err != nil || len(id) != len(s.ID) || hex.EncodeToString(id) != v {
		return nil, "", lineErr(n, "id must be 32 lower-case hex digits")
	}
	copy(s.ID[:], id)

	if v, err = next("kind"); err != nil {
		return nil, "", err
	}
	if s.Kind = Kind(v); s.Kind != PQ && s.Kind != X25519 {
		return nil, "", lineErr(n, "kind must be pq or x25519")
	}
	for _, t := range []*time.Time{&s.NotBefore, &s.NotAfter} {
		field := "not-before"
		if t == &s.NotAfter {
			field = "not-after"
		}
		if v, err = next(field); err != nil {
			return nil, "", err
		}
		if *t, err = time.Parse(timeLayout, v); err != nil || t.Format(timeLayout) != v {
			return nil, "", lineErr(n, field+" must be YYYY-MM-DDTHH:MM:SSZ")
		}
	}
	if err := s.checkWindow(); err != nil {
		return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n, err)
	}
	seen := map[string]bool{}
	for n < len(lines) && strings.HasPrefix(lines[n], "recipient: ") {
		r := strings.TrimPrefix(lines[n], "recipient: ")
		n++
		if len(s.Recipients) == MaxRecipients {
			return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n, ErrTooMany)
		}
		c, k, err := Canonical(r)
		switch {
		case err != nil:
			return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n, err)
		case c != r:
			return nil, "", lineErr(n, "recipient not in canonical form")
		case k != s.Kind:
			return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n, ErrMixedKinds)
		case seen[r]:
			return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n, ErrDuplicate)
		}
		seen[r] = true
		s.Recipients = append(s.Recipients, r)
	}
	if len(s.Recipients) == 0 {
		return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n+1, ErrEmptySet)
	}
	signer, err := next("signer")
	if err != nil {
		return nil, "", err
	}
	if sign.LooksSecret(signer) {
		return nil, "", fmt.Errorf("%w: line %d: %w", ErrMalformed, n, sign.ErrSecretKey)
	}
	pk, err := sign.ParsePublicKey(signer, sign.Newsroom)
	if err != nil || pk.String() != signer {
		return nil, "", lineErr(n, "signer must be a sandyq-newsroom public key")
	}
	if n != len(lines) {
		return nil, "", lineErr(n+1, "unexpected line after the signer")
	}
	return s, signer, nil
}
