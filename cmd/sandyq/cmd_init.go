package main

import (
	"context"
	"fmt"

	"sandyq/crypto/sign"
	"sandyq/server/datadir"
	"sandyq/server/onion"
	"sandyq/server/store"
)

const initUsage = `usage: sandyq init -d DIR [--newsroom-key PUB]

Creates a new data directory (mode 0700) holding an empty store, the instance
pepper (the secret salt of every codename), the instance signing key (it
signs the bundles journalists fetch) and the keys of the two onion services,
and prints their addresses on stdout: the source onion on the first line (the
public address), the journalist onion on the second (for journalists only).
DIR must not exist or must be empty. Nothing about sources is ever written
outside the store, and the store holds only ciphertext.

Flags:
    -d DIR               data directory to create
    --newsroom-key PUB   the newsroom's public signing key (sandyq-newsroom1...),
                         made on the air-gapped laptop with
                         "sandyq-client newsroom init"; recipient sets must be
                         signed by it. It can also be pinned later with
                         "sandyq admin -d DIR newsroom pin PUB".

Examples:
    sandyq init -d /var/lib/sandyq --newsroom-key sandyq-newsroom1qqs...
`

func runInit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("init")
	dir := fs.String("d", "", "data directory")
	newsroom := fs.String("newsroom-key", "", "newsroom public key")
	if err := parseFlags(e, fs, initUsage, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr(e, "init", "missing -d DIR")
	}
	if fs.NArg() > 0 {
		return usageErr(e, "init", "unexpected argument %q", fs.Arg(0))
	}
	if *newsroom != "" {
		k, err := sign.ParsePublicKey(*newsroom, sign.Newsroom)
		if err != nil {
			return fmt.Errorf("invalid --newsroom-key: %w", err)
		}
		*newsroom = k.String()
	}
	d, err := datadir.Create(*dir, e.rand, *newsroom)
	if err != nil {
		return err
	}
	st, err := store.Open(d.StorePath(), &store.Options{Rand: e.rand})
	if err != nil {
		return fmt.Errorf("creating store: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("creating store: %w", err)
	}
	addr, err := onion.GenerateKey(d.Join(datadir.OnionDir), sourceService, e.rand)
	if err != nil {
		return fmt.Errorf("creating the onion service key: %w", err)
	}
	jaddr, err := onion.GenerateKey(d.Join(datadir.OnionDir), journalistService, e.rand)
	if err != nil {
		return fmt.Errorf("creating the journalist onion service key: %w", err)
	}
	inst, err := d.InstanceKey()
	if err != nil {
		return err
	}
	infof(e, "created data directory %s", d.Path())
	infof(e, "instance key (each journalist's laptop pins it when it opens the first bundle): %s", inst.Public())
	infof(e, "the source onion address (line 1, public) and the journalist onion address (line 2, only for journalists) will be:")
	fmt.Fprintf(e.stdout, "http://%s/\n", addr)
	fmt.Fprintf(e.stdout, "http://%s/\n", jaddr)
	if *newsroom == "" {
		warnf(e, "no newsroom key pinned: the drop cannot accept submissions until one is")
	}
	hintf(e, "install a signed recipient set, then run \"sandyq serve -d %s\"", d.Path())
	return nil
}
