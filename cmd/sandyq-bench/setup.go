package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// tools are the executables the benchmark runs. An empty path means the
// tool is missing; why says why (and the sections needing it say they
// could not run).
type tools struct {
	sandyq, client                         string // built from this checkout
	age, gpg, gzip, onionshare, mat2, exif string
	tor, gencert                           string
	why                                    map[string]string
}

// debPackages maps each baseline executable to the Debian package that
// ships it.
var debPackages = []struct{ bin, pkg string }{
	{"onionshare-cli", "onionshare-cli"},
	{"mat2", "mat2"},
	{"exiftool", "libimage-exiftool-perl"},
	{"gpg", "gnupg"},
	{"gzip", "gzip"},
	{"tor", "tor"},
	{"tor-gencert", "tor"},
}

// ageModule is the age release installed with "go install" when no age
// is found: the version sandyq links.
const ageModule = "filippo.io/age/cmd/...@v1.3.2"

// findTools finds every baseline, installing what is missing through apt
// and the Go proxy unless install is false.
func (b *bench) findTools(ctx context.Context, install bool) error {
	t := &b.tools
	t.why = map[string]string{}
	var missing []string
	seen := map[string]bool{}
	for _, d := range debPackages {
		if _, err := exec.LookPath(d.bin); err != nil && !seen[d.pkg] {
			missing = append(missing, d.pkg)
			seen[d.pkg] = true
		}
	}
	// exiftool reads the properties of office documents (ZIP files) with
	// Archive::Zip, which Debian only recommends.
	if _, err := b.procs.run(ctx, runOpts{}, "perl", "-MArchive::Zip", "-e", "1"); err != nil {
		missing = append(missing, "libarchive-zip-perl")
	}
	if len(missing) > 0 && install {
		if err := b.aptInstall(ctx, missing); err != nil {
			b.logf("warning: %v", err)
		}
	}
	look := func(bin string) string {
		p, err := exec.LookPath(bin)
		if err != nil {
			t.why[bin] = fmt.Sprintf("%s not found on PATH", bin)
			return ""
		}
		return p
	}
	t.onionshare, t.mat2, t.exif = look("onionshare-cli"), look("mat2"), look("exiftool")
	t.gpg, t.gzip, t.tor, t.gencert = look("gpg"), look("gzip"), look("tor"), look("tor-gencert")

	t.age = b.findAge()
	if t.age == "" && install {
		b.logf("installing age: go install %s", ageModule)
		if _, err := b.procs.run(ctx, runOpts{Dir: b.work}, b.goTool, "install", ageModule); err != nil {
			b.logf("warning: installing age: %v", err)
		}
		t.age = b.findAge()
	}
	if t.age == "" {
		t.why["age"] = "age not found (go install " + ageModule + ")"
	} else {
		delete(t.why, "age")
	}
	return ctx.Err()
}

// findAge looks for age on PATH, then where "go install" puts it.
func (b *bench) findAge() string {
	if p, err := exec.LookPath("age"); err == nil {
		return p
	}
	for _, env := range []string{"GOBIN", "GOPATH"} {
		r, err := b.procs.run(context.Background(), runOpts{}, b.goTool, "env", env)
		dir := strings.TrimSpace(r.Stdout)
		if err != nil || dir == "" {
			continue
		}
		dir = strings.Split(dir, string(os.PathListSeparator))[0]
		if env == "GOPATH" {
			dir = filepath.Join(dir, "bin")
		}
		p := filepath.Join(dir, "age")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// aptInstall installs Debian packages, updating the package lists first
// if the first attempt fails (a fresh machine has none).
func (b *bench) aptInstall(ctx context.Context, pkgs []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing %s, and not root: install them with apt-get", strings.Join(pkgs, " "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("missing %s, and no apt-get on this machine", strings.Join(pkgs, " "))
	}
	b.logf("installing with apt-get: %s", strings.Join(pkgs, " "))
	env := runOpts{Env: []string{"DEBIAN_FRONTEND=noninteractive"}}
	args := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	if _, err := b.procs.run(ctx, env, "apt-get", args...); err == nil {
		return nil
	}
	if _, err := b.procs.run(ctx, env, "apt-get", "update"); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	if _, err := b.procs.run(ctx, env, "apt-get", args...); err != nil {
		return fmt.Errorf("apt-get install: %w", err)
	}
	return nil
}

// moduleRoot returns the directory of the sandyq module this command is
// run from.
func moduleRoot(ctx context.Context, p *procs, goTool string) (string, error) {
	r, err := p.run(ctx, runOpts{}, goTool, "env", "GOMOD")
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(r.Stdout)
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the sandyq module: run this from the checkout")
	}
	f, err := os.Open(mod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "module sandyq" {
		return "", fmt.Errorf("%s is not the sandyq module: run this from the checkout", mod)
	}
	return filepath.Dir(mod), nil
}

// build compiles sandyq and sandyq-client from this checkout into the
// work directory.
func (b *bench) build(ctx context.Context) error {
	bin := filepath.Join(b.work, "bin")
	for _, c := range []struct {
		pkg string
		out *string
	}{{"./cmd/sandyq", &b.tools.sandyq}, {"./cmd/sandyq-client", &b.tools.client}} {
		*c.out = filepath.Join(bin, filepath.Base(c.pkg))
		b.logf("building %s", c.pkg)
		if _, err := b.procs.run(ctx, runOpts{Dir: b.root}, b.goTool, "build", "-o", *c.out, c.pkg); err != nil {
			return err
		}
	}
	return nil
}

// keys are the newsroom's and a journalist's keys, made once with
// sandyq-client as the air-gapped laptop would.
type keys struct {
	newsroomPub string // sandyq-newsroom1...
	recipient   string // age1pq1...: the journalist's recipient
	identity    string // file: the journalist's identity (plain)
	set         string // file: a recipient set of that one recipient, signed
	accessKey   string // file: the journalist's access key
	accessPub   string // file: its public halves, for "admin journalist add"
}

func (b *bench) makeKeys(ctx context.Context) error {
	dir := filepath.Join(b.work, "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	k := &b.keys
	k.identity = filepath.Join(dir, "journalist.txt")
	k.set = filepath.Join(dir, "set.txt")
	k.accessKey = filepath.Join(dir, "access.key")
	k.accessPub = filepath.Join(dir, "access.pub")
	cl := b.tools.client
	r, err := b.procs.run(ctx, runOpts{}, cl, "newsroom", "init", "-o", filepath.Join(dir, "newsroom.key"))
	if err != nil {
		return err
	}
	k.newsroomPub = strings.TrimSpace(r.Stdout)
	if r, err = b.procs.run(ctx, runOpts{}, cl, "keygen", "-o", k.identity); err != nil {
		return err
	}
	k.recipient = strings.TrimSpace(r.Stdout)
	if _, err := b.procs.run(ctx, runOpts{}, cl, "recipients", "sign", "-k", filepath.Join(dir, "newsroom.key"),
		"-o", k.set, k.recipient); err != nil {
		return err
	}
	if r, err = b.procs.run(ctx, runOpts{}, cl, "access-key", "-o", k.accessKey); err != nil {
		return err
	}
	return os.WriteFile(k.accessPub, []byte(r.Stdout), 0o600)
}

var instanceKeyRE = regexp.MustCompile(`sandyq-instance1[0-9a-z]+`)

// newDataDir makes a sandyq data directory under the work directory with
// the newsroom key pinned and the recipient set installed, and a
// journalist registered if journalist is true. It returns the directory
// and the server's instance key.
func (b *bench) newDataDir(ctx context.Context, name string, journalist bool) (string, string, error) {
	dir := filepath.Join(b.work, name)
	os.RemoveAll(dir)
	r, err := b.procs.run(ctx, runOpts{}, b.tools.sandyq, "init", "-d", dir, "--newsroom-key", b.keys.newsroomPub)
	if err != nil {
		return "", "", err
	}
	inst := instanceKeyRE.FindString(r.Stderr)
	if _, err := b.procs.run(ctx, runOpts{}, b.tools.sandyq, "admin", "-d", dir, "recipients", "install", b.keys.set); err != nil {
		return "", "", err
	}
	if journalist {
		if _, err := b.procs.run(ctx, runOpts{}, b.tools.sandyq, "admin", "-d", dir, "journalist", "add", "bench", b.keys.accessPub); err != nil {
			return "", "", err
		}
	}
	return dir, inst, nil
}

// gpgKey makes the RSA-4096 OpenPGP key of the SecureDrop-style path in a
// GNUPGHOME of its own.
func (b *bench) gpgKey(ctx context.Context) error {
	b.gnupg = filepath.Join(b.work, "gnupg")
	if err := os.MkdirAll(b.gnupg, 0o700); err != nil {
		return err
	}
	b.logf("generating the RSA-4096 OpenPGP key of the SecureDrop-style path")
	_, err := b.procs.run(ctx, runOpts{}, b.tools.gpg, "--homedir", b.gnupg, "--batch", "--pinentry-mode", "loopback",
		"--passphrase", "", "--quick-generate-key", gpgUID, "rsa4096", "encr", "never")
	// Key generation starts a gpg-agent, which detaches from the
	// benchmark's process groups: stop it at once. Encryption needs only
	// the public key, and runs with --no-autostart.
	b.stopGPGAgent()
	return err
}

const gpgUID = "sandyq-bench <bench@sandyq.invalid>"

// stopGPGAgent ends the gpg-agent that key generation started (it runs
// detached from the benchmark's process groups).
func (b *bench) stopGPGAgent() {
	if b.gnupg == "" {
		return
	}
	if gpgconf, err := exec.LookPath("gpgconf"); err == nil {
		cmd := exec.Command(gpgconf, "--homedir", b.gnupg, "--kill", "all")
		cmd.Run()
	}
}

// writeRandom writes size bytes from a ChaCha8 stream seeded with seed to
// path: the input files of the file-based baselines.
func writeRandom(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var s [32]byte
	for j := range 8 {
		s[j] = byte(seed >> (8 * j))
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.Copy(w, io.LimitReader(mrand.NewChaCha8(s), size)); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
