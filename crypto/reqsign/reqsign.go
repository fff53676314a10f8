// Package reqsign signs and verifies the requests of sandyq's journalist
// API: every request carries the journalist's access key, the time, a
// random nonce and an Ed25519 signature over the request line and body
// length, in one header (docs/format.md, "Journalist API").
//
// The package only builds and checks the header. Deciding whether the key
// is registered, whether the time is within the window and whether the
// nonce was seen before is the server's job (package sandyq/server/japi).
package reqsign

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"sandyq/crypto/sign"
)

// Header is the name of the HTTP header that carries the signature.
const Header = "Sandyq-Request"

// Context is the signature context of API requests; it differs from every
// other signature sandyq makes, so no other signed statement (a bundle, a
// recipient set) can be replayed as a request, or the reverse.
const Context = "sandyq-api-v1-request"

// version is the first field of the header.
const version = "v1"

// MaxHeader caps the header's length before it is parsed.
const MaxHeader = 512

// NonceSize is the size of the random nonce in bytes.
const NonceSize = 16

// ErrMalformed is returned by Parse for a header that is not exactly in the
// documented form.
var ErrMalformed = errors.New("malformed request signature header")

// ErrBadSignature is returned by Signed.Verify when the signature does not
// verify for this request.
var ErrBadSignature = errors.New("request signature does not verify")

// Request is what a signature covers.
type Request struct {
	Method string // "GET", "POST"
	Target string // path and query exactly as sent, e.g. "/v1/bundle?after=12"
	Time   int64  // Unix seconds
	Nonce  [NonceSize]byte
	Length int64 // the body's Content-Length, 0 without a body
}

// message is the signed text: "v1\n" METHOD "\n" TARGET "\n" TIME "\n"
// NONCE "\n" LENGTH.
func (r *Request) message() []byte {
	return []byte(strings.Join([]string{
		version, r.Method, r.Target,
		strconv.FormatInt(r.Time, 10), hex.EncodeToString(r.Nonce[:]),
		strconv.FormatInt(r.Length, 10),
	}, "\n"))
}

// Sign returns the header value for req, signed with key (an access key).
// The nonce is read from rand; req.Nonce is ignored.
func Sign(key *sign.PrivateKey, req Request, rand io.Reader) (string, error) {
	if key.Kind() != sign.Access {
		return "", fmt.Errorf("reqsign: a %s key cannot sign API requests", key.Kind())
	}
	if err := checkRequest(&req); err != nil {
		return "", err
	}
	if _, err := io.ReadFull(rand, req.Nonce[:]); err != nil {
		return "", fmt.Errorf("reqsign: reading nonce: %w", err)
	}
	sig := key.Sign(Context, req.message())
	return strings.Join([]string{
		version, key.Public().String(), strconv.FormatInt(req.Time, 10),
		hex.EncodeToString(req.Nonce[:]), base64.RawURLEncoding.EncodeToString(sig),
	}, " "), nil
}

func checkRequest(r *Request) error {
	switch {
	case r.Method == "" || strings.ContainsAny(r.Method, " \n"):
		return errors.New("reqsign: bad method")
	case !strings.HasPrefix(r.Target, "/") || strings.ContainsAny(r.Target, " \n\r"):
		return errors.New("reqsign: bad request target")
	case r.Time <= 0:
		return errors.New("reqsign: bad time")
	case r.Length < 0:
		return errors.New("reqsign: bad length")
	}
	return nil
}

// Signed is a parsed header: who claims to sign, when, with which nonce.
// Nothing in it is trusted until Verify returned nil.
type Signed struct {
	Key   *sign.PublicKey
	Time  int64
	Nonce [NonceSize]byte
	sig   []byte
}

// Parse parses a header value strictly: exactly five fields separated by
// single spaces, the version "v1", an access key, a decimal time without
// sign or leading zero, 32 lower-case hex digits, and 86 characters of
// unpadded base64url. Errors never include the header's content.
func Parse(header string) (*Signed, error) {
	if len(header) > MaxHeader {
		return nil, ErrMalformed
	}
	f := strings.Split(header, " ")
	if len(f) != 5 || f[0] != version {
		return nil, ErrMalformed
	}
	key, err := sign.ParsePublicKey(f[1], sign.Access)
	if err != nil {
		return nil, ErrMalformed
	}
	t, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || t <= 0 || strconv.FormatInt(t, 10) != f[2] {
		return nil, ErrMalformed
	}
	s := &Signed{Key: key, Time: t}
	if len(f[3]) != 2*NonceSize || strings.ToLower(f[3]) != f[3] {
		return nil, ErrMalformed
	}
	if _, err := hex.Decode(s.Nonce[:], []byte(f[3])); err != nil {
		return nil, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(f[4])
	if err != nil || len(sig) != 64 {
		return nil, ErrMalformed
	}
	s.sig = sig
	return s, nil
}

// Verify checks the signature for the request with this method, target and
// body length.
func (s *Signed) Verify(method, target string, length int64) error {
	req := Request{Method: method, Target: target, Time: s.Time, Nonce: s.Nonce, Length: length}
	if checkRequest(&req) != nil || !s.Key.Verify(Context, req.message(), s.sig) {
		return ErrBadSignature
	}
	return nil
}
