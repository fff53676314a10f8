package main

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"

	"sandyq/crypto/sign"
)

const accessKeyHelp = `usage: sandyq-client access-key -o KEYFILE

Make a journalist's keys for the journalist API: an Ed25519 access key,
which signs requests, and an x25519 onion client authorization key, without
which tor cannot even find the journalist onion service. Both secrets go to
KEYFILE, created with mode 0600 (never overwritten); both public halves are
printed on stdout for the admin ("sandyq admin journalist add").

KEYFILE holds two lines, in this order:

    access: SANDYQ-ACCESS-SECRET-KEY-1...
    onion-auth: <52 characters of base32: the x25519 private key>

The public halves are printed the same way:

    access: sandyq-access1...
    onion-auth: <52 characters of base32: the x25519 public key>

The onion-auth keys use tor's encoding (RFC 4648 base32, upper case, no
padding), as in tor's authorized_clients and ClientOnionAuthDir files.

Flags:
    -o KEYFILE    the secret key file to create (required)

Examples:
    sandyq-client access-key -o access.key > access.pub
`

// onionB32 is tor's encoding of v3 client authorization keys (as in
// sandyq/server/onion, which this command must not import: it links net).
var onionB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// accessKey is the content of an access key file.
type accessKey struct {
	access    *sign.PrivateKey
	onionAuth *ecdh.PrivateKey
}

// String returns the access key file's contents. It is a secret.
func (k *accessKey) String() string {
	return "access: " + k.access.String() + "\n" +
		"onion-auth: " + onionB32.EncodeToString(k.onionAuth.Bytes()) + "\n"
}

// Public returns the public halves, in the same format.
func (k *accessKey) Public() string {
	return "access: " + k.access.Public().String() + "\n" +
		"onion-auth: " + onionB32.EncodeToString(k.onionAuth.PublicKey().Bytes()) + "\n"
}

func generateAccessKey(rand io.Reader) (*accessKey, error) {
	a, err := sign.Generate(rand, sign.Access)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, 32)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, err
	}
	o, err := ecdh.X25519().NewPrivateKey(seed)
	if err != nil {
		return nil, err
	}
	return &accessKey{access: a, onionAuth: o}, nil
}

// errBadAccessKey is returned for an access key file that does not follow
// the format; it never contains the file's contents.
var errBadAccessKey = errors.New("malformed access key file")

// parseAccessKey parses an access key file: exactly the lines "access: …"
// and "onion-auth: …", in that order.
func parseAccessKey(data string) (*accessKey, error) {
	sc := bufio.NewScanner(strings.NewReader(data))
	var vals []string
	for i, want := range []string{"access: ", "onion-auth: "} {
		if !sc.Scan() {
			return nil, fmt.Errorf("%w: missing line %d", errBadAccessKey, i+1)
		}
		v, ok := strings.CutPrefix(sc.Text(), want)
		if !ok {
			return nil, fmt.Errorf("%w: error at line %d", errBadAccessKey, i+1)
		}
		vals = append(vals, v)
	}
	if sc.Scan() || sc.Err() != nil {
		return nil, fmt.Errorf("%w: extra data after line 2", errBadAccessKey)
	}
	a, err := sign.ParsePrivateKey(vals[0], sign.Access)
	if err != nil {
		return nil, fmt.Errorf("%w: line 1: %w", errBadAccessKey, err)
	}
	b, err := onionB32.DecodeString(strings.ToUpper(vals[1]))
	if err != nil || len(vals[1]) != 52 || len(b) != 32 {
		return nil, fmt.Errorf("%w: line 2: not a base32 x25519 key", errBadAccessKey)
	}
	defer clear(b)
	o, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: line 2: not an x25519 key", errBadAccessKey)
	}
	return &accessKey{access: a, onionAuth: o}, nil
}

func runAccessKey(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("access-key")
	out := fs.String("o", "", "")
	pos, err := parseFlags(e, fs, accessKeyHelp, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(e, "access-key", "access-key takes no arguments")
	}
	if *out == "" {
		return usageErr(e, "access-key", "missing -o KEYFILE")
	}
	k, err := generateAccessKey(e.rand)
	if err != nil {
		return fmt.Errorf("generating the access key: %w", err)
	}
	data := []byte(k.String())
	defer clear(data)
	if err := writeNew(*out, 0o600, data, "-o"); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, k.Public())
	hintf(e, "give both public lines to the admin, for \"sandyq admin journalist add\"")
	return nil
}
