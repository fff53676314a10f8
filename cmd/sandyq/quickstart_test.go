package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sandyq/internal/tortest"
)

// TestQuickstartOverTor is README's first command on the private Tor
// network: quickstart serves a drop; a source sends with sandyq submit and
// the demo newsroom key; the demo journalist fetches through the journalist
// onion and opens the bundle with the demo identity.
func TestQuickstartOverTor(t *testing.T) {
	tortest.Require(t)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.1fs  %s", time.Since(begin).Seconds(), what) }
	n := torNet.Get(t)
	bin := sandyqBin(t)
	client := clientBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "demo")
	keys := dir + "-demo-keys"
	tmp := filepath.Join(work, "tmp")
	os.Mkdir(tmp, 0o700)
	torrc := filepath.Join(work, "testnet.torrc")
	os.WriteFile(torrc, []byte(strings.Join(n.TorrcLines(), "\n")+"\n"), 0o600)

	srv := startServing(t, bin, dir, tmp, "quickstart", "-d", dir, "--torrc", torrc)
	srv.waitStderr(t, "DEMO")
	warmUp(t, n.Get, srv.url)
	step("quickstart serving at " + srv.url)

	out, errOut, err := runTool(t, bin, tmp, "submit", "--server", srv.url, "--newsroom-key", filepath.Join(keys, "newsroom.pub"),
		"--torrc", torrc, "-m", "hello from the quickstart test")
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, errOut)
	}
	if strings.TrimSpace(string(out)) == "" {
		t.Fatal("submit printed no codename")
	}
	bundle := filepath.Join(work, "new.bundle")
	if _, errOut, err := runTool(t, bin, tmp, "fetch", "--server", srv.jurl, "--access-key", filepath.Join(keys, "journalist-access.key"),
		"--torrc", torrc, "-o", bundle); err != nil {
		t.Fatalf("fetch: %v\n%s", err, errOut)
	}
	step("submitted and fetched")
	vault := filepath.Join(work, "vault")
	runClient(t, client, "open", "-i", filepath.Join(keys, "journalist.identity"), "-o", vault, "--trust-on-first-use", bundle)
	list := string(runClient(t, client, "list", vault))
	var item string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Split(line, "\t"); len(f) > 2 && f[2] == "message" {
			item = f[0]
		}
	}
	if item == "" {
		t.Fatalf("no message in the vault:\n%s", list)
	}
	if shown := string(runClient(t, client, "show", vault, item)); !strings.Contains(shown, "hello from the quickstart test") {
		t.Fatalf("show:\n%s", shown)
	}
	srv.stop(t)

	// Run again: the same drop is served at the same address.
	srv2 := startServing(t, bin, dir, tmp, "quickstart", "-d", dir, "--torrc", torrc)
	if srv2.url != srv.url {
		t.Fatalf("second quickstart serves %s, first %s", srv2.url, srv.url)
	}
	srv2.stop(t)
	step("a second quickstart serves the same drop")
}

// TestQuickstartWithoutTor: with no tor, quickstart serves on loopback and
// says how to install tor.
func TestQuickstartWithoutTor(t *testing.T) {
	bin := sandyqBin(t)
	dir := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(bin, "quickstart", "-d", dir, "--tor", "/nonexistent/tor", "--listen", "127.0.0.1:0", "--journalist-listen", "127.0.0.1:0")
	cmd.Env = sandyqEnv()
	stderr := new(syncBuffer)
	cmd.Stderr = stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "http://127.0.0.1:") || !strings.HasPrefix(lines[1], "http://127.0.0.1:") {
		t.Fatalf("stdout %q; stderr:\n%s", lines, stderr.Bytes())
	}
	p := &serveProc{stderr: stderr}
	for _, want := range []string{"tor is not installed", "apt-get install tor", "NOT anonymous", "DEMO"} {
		p.waitStderr(t, want)
	}
	if fi, err := os.Stat(dir + "-demo-keys"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("demo key directory: %v %v", fi, err)
	}
}
