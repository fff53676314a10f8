package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

const recipientsHelp = `usage: sandyq-client recipients sign -k KEYFILE -o SET [flags] [RECIPIENT...]

Commands:
    sign    sign a recipient set with the newsroom key

Examples:
    sandyq-client recipients sign -k newsroom.key -o set.txt age1pq1...
`

const recipientsSignHelp = `usage: sandyq-client recipients sign -k KEYFILE -o SET [flags] [RECIPIENT...]

Sign a recipient set: the age recipients that submissions are encrypted to,
with a random ID and a validity window, signed by the newsroom key in
KEYFILE (made by "sandyq-client newsroom init"). SET is created (mode 0644:
it is public) and never overwritten; install it on the server with
"sandyq admin recipients install". The set ID is printed on stdout.

Recipients are given as arguments and/or with -R, all post-quantum
("age1pq1...", the default) or all X25519 ("age1..."): age cannot mix them.
Secret keys are refused (and never printed).

Flags:
    -k KEYFILE              the newsroom secret key file (required)
    -o SET                  the signed set to create (required)
    -R FILE                 read recipients from FILE, one per line; blank
                            lines and lines starting with "#" are ignored
                            (repeatable)
    --not-before TIME       start of validity: RFC 3339 (2026-01-02T15:04:05Z)
                            or a date (2026-01-02, midnight UTC); default now
    --valid DURATION        length of validity: days ("365d") or a Go
                            duration ("720h"); default 365d

Examples:
    sandyq-client recipients sign -k newsroom.key -o set.txt \
        age1pq1... age1pq1...
    sandyq-client recipients sign -k newsroom.key -o set-2027.txt \
        --not-before 2027-01-01 --valid 365d -R journalists.txt
`

// maxValid bounds --valid (ten years).
const maxValid = 10 * 366 * 24 * time.Hour

func runRecipients(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "recipients", recipientsHelp, args, map[string]func(context.Context, *env, []string) error{
		"sign": runRecipientsSign,
	})
}

func runRecipientsSign(ctx context.Context, e *env, args []string) error {
	const name = "recipients sign"
	fs := newFlagSet(name)
	keyFile := fs.String("k", "", "")
	out := fs.String("o", "", "")
	notBeforeS := fs.String("not-before", "", "")
	validS := fs.String("valid", "365d", "")
	var files []string
	fs.Func("R", "", func(s string) error {
		if s == "" {
			return errors.New("empty file name")
		}
		files = append(files, s)
		return nil
	})
	pos, err := parseFlags(e, fs, recipientsSignHelp, args)
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return usageErr(e, name, "missing -k KEYFILE")
	}
	if *out == "" {
		return usageErr(e, name, "missing -o SET")
	}
	if looksSecret(*keyFile) || looksSecret(*out) {
		return usageErr(e, name, "-k and -o take file names, not keys (not shown: it looks like a secret key)")
	}
	notBefore := e.now().UTC().Truncate(time.Second)
	if *notBeforeS != "" {
		notBefore, err = parseTime(*notBeforeS)
		if err != nil {
			return usageErr(e, name, "invalid --not-before: %v", err)
		}
	}
	valid, err := parseValidity(*validS)
	if err != nil {
		return usageErr(e, name, "invalid --valid: %v", err)
	}

	recs := pos
	for _, f := range files {
		if looksSecret(f) {
			return usageErr(e, name, "-R takes a file name, not a key (not shown: it looks like a secret key)")
		}
		r, err := readRecipientsFile(f)
		if err != nil {
			return err
		}
		recs = append(recs, r...)
	}
	if len(recs) == 0 {
		return usageErr(e, name, "no recipients given")
	}

	key, err := readNewsroomKey(*keyFile)
	if err != nil {
		return err
	}
	set, err := recipients.NewSet(e.rand, recs, notBefore, notBefore.Add(valid))
	if err != nil {
		err = fmt.Errorf("recipient set: %w", err)
		if errors.Is(err, recipients.ErrSecretKey) {
			err = &hintError{err, `give the recipient that "sandyq-client keygen" printed, not a secret key`}
		}
		return err
	}
	signed, err := set.Sign(key)
	if err != nil {
		return fmt.Errorf("signing the recipient set: %w", err)
	}
	// Check what we wrote the way the server will.
	if _, err := recipients.Parse(signed, key.Public()); err != nil {
		return fmt.Errorf("internal error: the signed set does not verify: %w", err)
	}
	if err := writeNew(*out, 0o644, signed, "-o"); err != nil {
		return err
	}
	infof(e, "signed a set of %d %s recipients, valid from %s until %s",
		len(set.Recipients), set.Kind, set.NotBefore.Format(time.RFC3339), set.NotAfter.Format(time.RFC3339))
	if !set.ValidAt(e.now()) {
		warnf(e, "the set is not valid now")
	}
	fmt.Fprintln(e.stdout, set.IDString())
	return nil
}

// readNewsroomKey reads a newsroom secret key file.
func readNewsroomKey(path string) (*sign.PrivateKey, error) {
	b, err := readSmall(path, "-k")
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := sign.ParsePrivateKey(string(b), sign.Newsroom)
	if err != nil {
		return nil, fmt.Errorf("the -k file does not hold a newsroom secret key: %w", err)
	}
	return k, nil
}

// readRecipientsFile reads recipients, one per line; blank lines and lines
// starting with "#" are ignored. Errors give line numbers, not contents.
func readRecipientsFile(path string) ([]string, error) {
	b, err := readSmall(path, "-R")
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, errors.New("the -R file is not valid UTF-8")
	}
	var recs []string
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, err := recipients.Canonical(line); err != nil {
			return nil, fmt.Errorf("the -R file, error at line %d: %w", i+1, err)
		}
		recs = append(recs, line)
	}
	return recs, nil
}

// parseTime parses an RFC 3339 time or a date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02)")
}

// parseValidity parses "Nd" (days) or a Go duration, positive and at most
// maxValid.
func parseValidity(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > int(maxValid/(24*time.Hour)) {
			return 0, errors.New("want a number of days (365d) up to ten years")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, errors.New("want days (365d) or a duration (720h)")
		}
	}
	if d < time.Second || d > maxValid {
		return 0, errors.New("must be between one second and ten years")
	}
	return d, nil
}
