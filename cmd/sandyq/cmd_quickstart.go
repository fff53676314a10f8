package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"sandyq/client/accesskey"
	"sandyq/crypto/agekey"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/datadir"
)

const quickstartUsage = `usage: sandyq quickstart -d DIR [--torrc FILE] [--tor PATH] [--listen ADDR]
                         [--journalist-listen ADDR]

Sets up a complete demo drop on this one machine and serves it: for trying
sandyq, NOT for real sources. It makes demo keys in DIR-demo-keys (the
newsroom signing key, a journalist identity, a journalist access key),
creates the data directory DIR, pins the newsroom key, installs a signed
recipient set, registers the demo journalist, and starts serving:

  - through Tor when tor is on PATH (or --tor PATH): both onion addresses
    are printed on stdout, the source onion first;
  - otherwise on loopback only (--listen, default 127.0.0.1:8080, for
    sources; --journalist-listen, default 127.0.0.1:8081, for the journalist
    API), with a warning and how to install tor.

A real newsroom makes its keys on an air-gapped laptop with sandyq-client
and never lets the identities or the newsroom key near the server. The demo
keys here sit next to the server on purpose, so that you can try the whole
loop: submit, fetch, open, reply. Run it again with the same DIR to serve
the same demo drop.

Flags:
    -d DIR          the demo data directory (created if it does not exist)
    --torrc FILE    extra torrc lines (bridges, or a private test network)
    --tor PATH      the tor executable (default: tor on PATH)
    --listen ADDR, --journalist-listen ADDR
                    the loopback addresses used when tor is not installed

Examples:
    sandyq quickstart -d /tmp/sandyq-demo
`

func runQuickstart(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("quickstart")
	dir := fs.String("d", "", "data directory")
	torrc := fs.String("torrc", "", "extra torrc file")
	torPath := fs.String("tor", "", "tor executable")
	listen := fs.String("listen", "127.0.0.1:8080", "loopback address without tor")
	jlisten := fs.String("journalist-listen", "127.0.0.1:8081", "loopback address of the journalist API without tor")
	if err := parseFlags(e, fs, quickstartUsage, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr(e, "quickstart", "missing -d DIR")
	}
	if fs.NArg() > 0 {
		return usageErr(e, "quickstart", "unexpected argument %q", fs.Arg(0))
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	keys := abs + "-demo-keys"
	if _, err := datadir.Open(abs); err == nil {
		infof(e, "serving the demo drop already set up in %s (demo keys in %s)", abs, keys)
	} else if err := quickstartSetup(ctx, e, abs, keys); err != nil {
		return err
	}
	warnf(e, "DEMO: the keys in %s make every submission readable; a real newsroom makes its keys on an air-gapped laptop (docs/admin-guide.md)", keys)

	serveArgs := []string{"-d", abs}
	if *torrc != "" {
		serveArgs = append(serveArgs, "--torrc", *torrc)
	}
	torBin := *torPath
	if torBin == "" {
		torBin = "tor"
	}
	src, jour := "http://SOURCE-ONION", "http://JOURNALIST-ONION"
	dev := ""
	if _, err := exec.LookPath(torBin); err != nil {
		warnf(e, "tor is not installed: serving on loopback only, which is NOT anonymous")
		hintf(e, "install tor (Debian: apt-get install tor) and run quickstart again to serve over Tor")
		serveArgs = append(serveArgs, "--dev-listen", *listen, "--dev-journalist-listen", *jlisten)
		src, jour, dev = "http://"+*listen, "http://"+*jlisten, " --dev"
	} else if *torPath != "" {
		serveArgs = append(serveArgs, "--tor", *torPath)
	}
	infof(e, "next, in another terminal:")
	infof(e, "  a source:      open %s/ in Tor Browser, or", src)
	infof(e, "                 sandyq submit%s --server %s --newsroom-key %s -m \"hello\" FILE", dev, src, filepath.Join(keys, "newsroom.pub"))
	infof(e, "  a journalist:  sandyq fetch%s --server %s --access-key %s -o new.bundle", dev, jour, filepath.Join(keys, "journalist-access.key"))
	infof(e, "                 sandyq-client open -i %s -o vault --trust-on-first-use new.bundle", filepath.Join(keys, "journalist.identity"))
	infof(e, "                 sandyq-client list vault")
	infof(e, "  (the onion addresses are the two lines below once published)")
	return runServe(ctx, e, serveArgs)
}

// quickstartSetup makes the demo keys and the data directory.
func quickstartSetup(ctx context.Context, e *env, dir, keys string) error {
	if err := os.Mkdir(keys, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists but %s is not a sandyq data directory: remove both or choose another -d", keys, dir)
		}
		return fmt.Errorf("creating the demo key directory: %w", err)
	}
	newsroom, err := sign.Generate(e.rand, sign.Newsroom)
	if err != nil {
		return err
	}
	id, err := agekey.GenerateHybrid(e.rand)
	if err != nil {
		return err
	}
	ak, err := accesskey.Generate(e.rand)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	set, err := recipients.NewSet(e.rand, []string{id.Recipient().String()}, now.Add(-time.Minute).Truncate(time.Second), now.AddDate(1, 0, 0).Truncate(time.Second))
	if err != nil {
		return err
	}
	signed, err := set.Sign(newsroom)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data string
	}{
		{"newsroom.key", newsroom.String() + "\n"},
		{"newsroom.pub", newsroom.Public().String() + "\n"},
		{"journalist.identity", fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", now.Format("2006-01-02"), id.Recipient(), id)},
		{"journalist-access.key", ak.String()},
		{"journalist-access.pub", ak.Public()},
		{"recipient-set.txt", string(signed)},
		{"README", "DEMO KEYS made by sandyq quickstart. They decrypt everything sent to the demo drop.\n" +
			"A real newsroom makes its keys with sandyq-client on an air-gapped laptop.\n"},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(keys, f.name), []byte(f.data), 0o600); err != nil {
			return fmt.Errorf("writing demo keys: %w", err)
		}
	}
	// init's addresses go to stderr here: stdout gets them once serving.
	quiet := *e
	quiet.stdout = e.stderr
	if err := runInit(ctx, &quiet, []string{"-d", dir, "--newsroom-key", newsroom.Public().String()}); err != nil {
		return err
	}
	d, err := datadir.Open(dir)
	if err != nil {
		return err
	}
	o, err := openDirect(d)
	if err != nil {
		return err
	}
	defer o.st.Close()
	if _, err := o.recipientsInstall(ctx, recipientsInstallArgs{Sets: []string{string(signed)}}); err != nil {
		return err
	}
	if _, err := o.journalistAdd(ctx, journalistAddArgs{Name: "demo", Public: ak.Public()}); err != nil {
		return err
	}
	infof(e, "demo drop ready in %s, demo keys in %s", dir, keys)
	return nil
}
