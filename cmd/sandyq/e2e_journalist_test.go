package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sandyq/crypto/codename"
	"sandyq/crypto/sourcekey"
	"sandyq/internal/browser"
	"sandyq/internal/tortest"
)

// TestJournalistOverTor is the end-to-end test of the journalist's path, on
// the private Tor network with every part real: keys made by sandyq-client,
// one source submitting through the web form (Chromium, JavaScript off) and
// one through "sandyq submit", journalists registered and revoked while the
// server runs, "sandyq fetch" through a tor it starts itself with the
// journalist's onion client-auth key, "sandyq-client open" decrypting byte
// for byte, and a reply bundle pushed back and read by the source in the
// browser.
func TestJournalistOverTor(t *testing.T) {
	tortest.Require(t)
	browser.Require(t)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.1fs  %s", time.Since(begin).Seconds(), what) }

	n := torNet.Get(t)
	step("tor network up")
	bin := sandyqBin(t)
	client := clientBin(t)
	work := t.TempDir()
	dir := filepath.Join(work, "data")
	childTmp := filepath.Join(work, "child-tmp")
	if err := os.Mkdir(childTmp, 0o700); err != nil {
		t.Fatal(err)
	}
	torrc := filepath.Join(work, "testnet.torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(n.TorrcLines(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	laptop := filepath.Join(work, "laptop") // the air-gapped laptop's files
	if err := os.Mkdir(laptop, 0o700); err != nil {
		t.Fatal(err)
	}
	lp := func(name string) string { return filepath.Join(laptop, name) }

	// Keys, made offline.
	newsroomPub := strings.TrimSpace(string(runClient(t, client, "newsroom", "init", "-o", lp("newsroom.key"))))
	recip := strings.TrimSpace(string(runClient(t, client, "keygen", "-o", lp("identity.txt"))))
	runClient(t, client, "recipients", "sign", "-k", lp("newsroom.key"), "-o", lp("set.txt"), recip)
	pubs := map[string]string{}
	for _, who := range []string{"alice", "bob", "mallory"} {
		pubs[who] = lp(who + ".pub")
		out := runClient(t, client, "access-key", "-o", lp(who+".key"))
		if err := os.WriteFile(pubs[who], out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	step("keys made with sandyq-client")

	initOut := runSandyq(t, bin, childTmp, "init", "-d", dir, "--newsroom-key", newsroomPub)
	urls := regexp.MustCompile(`(?m)^http://[a-z2-7]{56}\.onion/$`).FindAll(initOut, -1)
	if len(urls) != 2 {
		t.Fatalf("sandyq init printed %d onion addresses, want 2:\n%s", len(urls), initOut)
	}
	runSandyq(t, bin, childTmp, "admin", "-d", dir, "recipients", "install", lp("set.txt"))
	runSandyq(t, bin, childTmp, "admin", "-d", dir, "journalist", "add", "alice", pubs["alice"])

	srv := startServe(t, bin, dir, torrc, childTmp)
	if srv.url != string(urls[0]) || srv.jurl != string(urls[1]) {
		t.Fatalf("serve published %s and %s; init announced %s", srv.url, srv.jurl, urls)
	}
	warmUp(t, n.Get, srv.url)
	step("sandyq serve published both onions")

	// Source 1: the web form.
	marker := "SANDYQ-E2E-J-" + randHex(t, 12)
	webMessage := "Web source message " + marker
	b := browser.Start(t, browser.Options{SocksProxy: n.SocksAddr(), Timeout: 3 * time.Minute})
	navigate(t, b, srv.url)
	mustSubmit(t, b, `main a.button[href$="/new"]`)
	mustSubmit(t, b, "main form button[type=submit]")
	html, err := b.HTML()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<p class="codename"[^>]*>([^<]*)</p>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no codename on the page")
	}
	webCode := strings.TrimSpace(m[1])
	if err := b.SetChecked("input[name=saved]", true); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b, "main form button[type=submit]")
	if err := b.SetValue("textarea[name=message]", webMessage); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b, "main form button[type=submit]")
	if !strings.Contains(pageText(t, b), "Received") {
		t.Fatal("no receipt for the web submission")
	}
	b.Close()
	step("source 1 submitted through the web form")

	// Source 2: the CLI, encrypting on its own machine.
	cliFile := filepath.Join(work, "evidence.bin")
	cliData := bytes.Repeat([]byte("evidence "+marker+"\n"), 40000)
	if err := os.WriteFile(cliFile, cliData, 0o600); err != nil {
		t.Fatal(err)
	}
	cliMessage := "CLI source message " + marker
	out, errOut, err := runTool(t, bin, childTmp, "submit", "--server", srv.url, "--newsroom-key", newsroomPub,
		"--torrc", torrc, "-m", cliMessage, cliFile)
	if err != nil {
		t.Fatalf("sandyq submit: %v\n%s", err, errOut)
	}
	cliCode := strings.TrimSpace(string(out))
	if len(strings.Fields(cliCode)) != codename.Words {
		t.Fatalf("sandyq submit printed %q, want a codename", cliCode)
	}
	step("source 2 submitted with sandyq submit")

	// A tor without any client-auth key cannot even find the journalist
	// onion: tor answers "client authorization missing" (F4).
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	_, _, err = n.Get(ctx, srv.jurl)
	cancel()
	var se *tortest.SOCKSError
	if !errors.As(err, &se) || se.Code != tortest.OnionMissingAuth {
		t.Fatalf("plain tor client reaching the journalist onion: %v, want F4 (missing client authorization)", err)
	}
	step("journalist onion unreachable without client authorization")

	// Bob is registered while the server runs (through the control socket).
	runSandyq(t, bin, childTmp, "admin", "-d", dir, "journalist", "add", "bob", pubs["bob"])
	fetch := func(who, bundle string) ([]byte, error) {
		_, e, err := runTool(t, bin, childTmp, "fetch", "--server", srv.jurl, "--access-key", lp(who+".key"),
			"--torrc", torrc, "-o", bundle)
		return e, err
	}
	if e, err := fetch("alice", lp("alice-1.bundle")); err != nil {
		t.Fatalf("alice's fetch: %v\n%s", err, e)
	}
	step("alice fetched")
	if e, err := fetch("bob", lp("bob-1.bundle")); err != nil {
		t.Fatalf("bob's fetch: %v\n%s", err, e)
	}
	step("bob, added while serving, fetched")
	e, err := fetch("mallory", lp("mallory.bundle"))
	if err == nil || !strings.Contains(string(e), "onion authorization") {
		t.Fatalf("unregistered journalist's fetch: %v\n%s", err, e)
	}
	if _, err := os.Stat(lp("mallory.bundle")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused fetch left a bundle")
	}
	step("unregistered journalist refused")
	runSandyq(t, bin, childTmp, "admin", "-d", dir, "journalist", "revoke", "bob")
	// Revocation republished the onion without bob's key: his tor cannot
	// even read the descriptor any more (the API would refuse him too).
	if e, err := fetch("bob", lp("bob-2.bundle")); err == nil || !strings.Contains(string(e), "onion authorization") {
		t.Fatalf("revoked journalist's fetch: %v\n%s", err, e)
	}
	step("revoked journalist refused")

	// On the laptop: open, compare byte for byte.
	vault := lp("vault")
	instPub := instanceKeyOf(t, initOut)
	runClient(t, client, "open", "-i", lp("identity.txt"), "-o", vault, "--instance-key", instPub, lp("alice-1.bundle"))
	pepper, err := os.ReadFile(filepath.Join(dir, "pepper"))
	if err != nil {
		t.Fatal(err)
	}
	webSrc := sourceHex(t, webCode, pepper)
	cliSrc := sourceHex(t, cliCode, pepper)
	wantFile(t, filepath.Join(vault, webSrc), "msg-", []byte(strings.ReplaceAll(webMessage, "\n", "\r\n")))
	wantFile(t, filepath.Join(vault, cliSrc), "msg-", []byte(cliMessage))
	wantFile(t, filepath.Join(vault, cliSrc), "-evidence.bin", cliData)
	step("sandyq-client opened the bundle; every item equal")

	// A reply to the web source, pushed back and read in the browser.
	replyText := "Thank you. A journalist " + randHex(t, 6)
	if err := os.WriteFile(lp("reply.txt"), []byte(replyText), 0o600); err != nil {
		t.Fatal(err)
	}
	runClient(t, client, "reply", "-i", lp("identity.txt"), "--vault", vault, "--source", webSrc,
		"--access-key", lp("alice.key"), "-o", lp("reply.bundle"), lp("reply.txt"))
	if _, e, err := runTool(t, bin, childTmp, "push", "--server", srv.jurl, "--access-key", lp("alice.key"),
		"--torrc", torrc, lp("reply.bundle")); err != nil {
		t.Fatalf("sandyq push: %v\n%s", err, e)
	}
	step("reply pushed")
	b2 := browser.Start(t, browser.Options{SocksProxy: n.SocksAddr(), Timeout: 3 * time.Minute})
	navigate(t, b2, srv.url)
	mustSubmit(t, b2, `main a.button[href$="/login"]`)
	if err := b2.SetValue("#codename", webCode); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b2, "main form button[type=submit]")
	mustSubmit(t, b2, `nav a[href$="/replies"]`)
	mustSubmit(t, b2, `main a[href*="/replies/"]`)
	if !strings.Contains(pageText(t, b2), replyText) {
		t.Fatal("the source does not see the reply")
	}
	mustSubmit(t, b2, "main form button[type=submit]")
	if !strings.Contains(pageText(t, b2), "There are no replies yet") {
		t.Fatal("the source could not delete the reply")
	}
	b2.Close()
	step("the source read and deleted the reply")

	srv.stop(t)
	secrets := map[string][]byte{"marker": []byte(marker), "web codename": []byte(webCode),
		"cli codename": []byte(cliCode), "reply": []byte(replyText)}
	scanTree(t, dir, secrets)
	scanTree(t, childTmp, secrets)
	scanBytes(t, "server stderr", srv.stderr.Bytes(), secrets)
}

// clientBin builds sandyq-client into a fresh directory.
func clientBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sandyq-client")
	out, err := exec.Command("go", "build", "-o", bin, "sandyq/cmd/sandyq-client").CombinedOutput()
	if err != nil {
		t.Fatalf("building sandyq-client: %v\n%s", err, out)
	}
	return bin
}

// runClient runs sandyq-client with no network namespace trickery (the
// client's own tests do that) and returns its stdout.
func runClient(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sandyq-client %s: %v\n%s", strings.Join(args[:min(len(args), 3)], " "), err, stderr.Bytes())
	}
	return out
}

// runTool runs sandyq (an online tool that starts its own tor) and returns
// stdout, stderr and the error.
func runTool(t *testing.T, bin, tmp string, args ...string) ([]byte, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = sandyqEnv("TMPDIR=" + tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

// instanceKeyOf finds the instance key that sandyq init printed.
func instanceKeyOf(t *testing.T, initOut []byte) string {
	t.Helper()
	m := regexp.MustCompile(`sandyq-instance1[a-z0-9]+`).Find(initOut)
	if m == nil {
		t.Fatalf("sandyq init printed no instance key:\n%s", initOut)
	}
	return string(m)
}

func sourceHex(t *testing.T, code string, pepper []byte) string {
	t.Helper()
	norm, err := codename.Normalize(code)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sourcekey.Derive(norm, pepper, sourcekey.TestParams())
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(keys.SourceID[:])
}

// wantFile checks that dir holds a file whose name matches (prefix "msg-"
// or suffix otherwise) with exactly want.
func wantFile(t *testing.T, dir, match string, want []byte) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, match) || strings.HasSuffix(name, match) {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: %d bytes differ from the %d submitted", name, len(got), len(want))
			}
			return
		}
	}
	t.Fatalf("no file %q in %s", match, dir)
}
