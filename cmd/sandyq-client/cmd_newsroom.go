package main

import (
	"context"
	"fmt"

	"sandyq/crypto/sign"
)

const newsroomHelp = `usage: sandyq-client newsroom init -o KEYFILE

Commands:
    init    make the newsroom signing key

The newsroom key (Ed25519) signs recipient sets; the server and sources'
tools accept only sets signed by it. Keep KEYFILE on the air-gapped laptop.

Examples:
    sandyq-client newsroom init -o newsroom.key
`

const newsroomInitHelp = `usage: sandyq-client newsroom init -o KEYFILE

Make a new newsroom signing key and write its secret key
("SANDYQ-NEWSROOM-SECRET-KEY-1...", one line) to KEYFILE, created with mode
0600; an existing file is never overwritten. The public key
("sandyq-newsroom1...") is printed on stdout: give it to "sandyq init
--newsroom-key" on the server and to sources' "sandyq submit --newsroom-key".

Flags:
    -o KEYFILE    the secret key file to create (required)

Examples:
    sandyq-client newsroom init -o newsroom.key > newsroom.pub
`

func runNewsroom(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "newsroom", newsroomHelp, args, map[string]func(context.Context, *env, []string) error{
		"init": runNewsroomInit,
	})
}

func runNewsroomInit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("newsroom init")
	out := fs.String("o", "", "")
	pos, err := parseFlags(e, fs, newsroomInitHelp, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(e, "newsroom init", "newsroom init takes no arguments")
	}
	if *out == "" {
		return usageErr(e, "newsroom init", "missing -o KEYFILE")
	}
	k, err := sign.Generate(e.rand, sign.Newsroom)
	if err != nil {
		return fmt.Errorf("generating the newsroom key: %w", err)
	}
	data := []byte(k.String() + "\n")
	defer clear(data)
	if err := writeNew(*out, 0o600, data, "-o"); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, k.Public())
	return nil
}
