package main

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/armor"

	"sandyq/crypto/agekey"
)

const keygenHelp = `usage: sandyq-client keygen -o IDENTITY [--passphrase]

Make a new post-quantum age identity (ML-KEM-768 + X25519) and write it to
IDENTITY, created with mode 0600; an existing file is never overwritten.
The public recipient ("age1pq1...") is printed on stdout: put it in the
newsroom's recipient set ("sandyq-client recipients sign").

The file is in age-keygen's format:

    # created: 2026-01-02
    # public key: age1pq1...
    AGE-SECRET-KEY-PQ-1...

With --passphrase, the file is that identity encrypted with age's scrypt
passphrase encryption (ASCII armored), and "age -d" can decrypt it. The
passphrase is read twice from the terminal without echo, or from
$SANDYQ_PASSPHRASE if set (for scripts; prefer the terminal).

Flags:
    -o IDENTITY      the identity file to create (required)
    --passphrase     protect the identity with a passphrase

Examples:
    sandyq-client keygen --passphrase -o journalist.age
    sandyq-client keygen -o epoch-2026.txt > epoch-2026.pub
`

func runKeygen(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("keygen")
	out := fs.String("o", "", "")
	withPass := fs.Bool("passphrase", false, "")
	pos, err := parseFlags(e, fs, keygenHelp, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(e, "keygen", "keygen takes no arguments")
	}
	if *out == "" {
		return usageErr(e, "keygen", "missing -o IDENTITY")
	}

	id, err := agekey.GenerateHybrid(e.rand)
	if err != nil {
		return fmt.Errorf("generating the identity: %w", err)
	}
	recipient := id.Recipient().String()
	var text bytes.Buffer
	fmt.Fprintf(&text, "# created: %s\n", e.now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&text, "# public key: %s\n", recipient)
	fmt.Fprintf(&text, "%s\n", id)
	data := text.Bytes()
	defer clear(data)

	if *withPass {
		pass, err := newPassphrase(e)
		if err != nil {
			return err
		}
		data, err = encryptWithPassphrase(data, pass, e.scryptLogN)
		if err != nil {
			return err
		}
	}
	if err := writeNew(*out, 0o600, data, "-o"); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, recipient)
	return nil
}

// encryptWithPassphrase returns data age-encrypted (armored) with an scrypt
// recipient for pass. logN is the work factor, 0 for age's default.
func encryptWithPassphrase(data []byte, pass string, logN int) ([]byte, error) {
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	if logN != 0 {
		r.SetWorkFactor(logN)
	}
	var buf bytes.Buffer
	a := armor.NewWriter(&buf)
	w, err := age.Encrypt(a, r)
	if err != nil {
		return nil, fmt.Errorf("encrypting the identity: %w", err)
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("encrypting the identity: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypting the identity: %w", err)
	}
	if err := a.Close(); err != nil {
		return nil, fmt.Errorf("encrypting the identity: %w", err)
	}
	return buf.Bytes(), nil
}
