package main

// TestOfflineSessionInNetns runs a whole offline session with the real
// sandyq-client binary inside a new network namespace, where the only
// interface is a loopback that is down: what the air-gapped laptop offers.
// The test binary re-runs itself under unshare(1); the inner run (marked by
// netnsInnerEnv) checks the namespace and drives the binary.

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/sourcekey"
	"sandyq/internal/testenv"
)

const (
	netnsInnerEnv  = "SANDYQ_TEST_NETNS_INNER"
	netnsBinEnv    = "SANDYQ_TEST_CLIENT_BIN"
	netnsOuterEnv  = "SANDYQ_TEST_OUTER_NETNS"
	netnsOKMarker  = "NETNS-SESSION-COMPLETE"
	netnsUnshareOK = "unshare works"
)

func TestOfflineSessionInNetns(t *testing.T) {
	if os.Getenv(netnsInnerEnv) == "1" {
		innerSession(t)
		return
	}
	if testing.Short() {
		t.Skip("builds the binary and runs it under unshare")
	}
	unshare := testenv.RequireBinary(t, "unshare", "part of util-linux")
	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	probe, err := exec.Command(unshare, append(args, "echo", netnsUnshareOK)...).CombinedOutput()
	if err != nil || !strings.Contains(string(probe), netnsUnshareOK) {
		msg := "unshare " + strings.Join(args, " ") + " failed (no privilege for a network namespace? user namespaces disabled?): " +
			strings.TrimSpace(string(probe))
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}

	bin := filepath.Join(t.TempDir(), "sandyq-client")
	build := exec.Command("go", "build", "-o", bin, "sandyq/cmd/sandyq-client")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	outerNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, append(args, os.Args[0], "-test.run=^TestOfflineSessionInNetns$", "-test.v", "-test.count=1")...)
	cmd.Env = append(os.Environ(), netnsInnerEnv+"=1", netnsBinEnv+"="+bin, netnsOuterEnv+"="+outerNS)
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the session inside the namespace failed: %v", err)
	}
	if !strings.Contains(string(out), netnsOKMarker) || !strings.Contains(string(out), "--- PASS: TestOfflineSessionInNetns") {
		t.Fatal("the session inside the namespace did not run to its end")
	}
}

// client runs the sandyq-client binary with stdin and returns its result.
func client(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Getenv(netnsBinEnv), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func innerSession(t *testing.T) {
	// The namespace: another one than the test's, with only "lo", down.
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if ns == os.Getenv(netnsOuterEnv) {
		t.Fatalf("still in the outer network namespace %s", ns)
	}
	dev, err := os.ReadFile("/proc/self/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	var ifaces []string
	for _, line := range strings.Split(string(dev), "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			ifaces = append(ifaces, name)
		}
	}
	if strings.Join(ifaces, ",") != "lo" {
		t.Fatalf("interfaces in the namespace: %q, want only lo", ifaces)
	}
	if ip, err := exec.LookPath("ip"); err == nil {
		out, err := exec.Command(ip, "-o", "link").Output()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], " lo: ") || !strings.Contains(lines[0], "state DOWN") {
			t.Fatalf("ip -o link:\n%s", out)
		}
		t.Logf("ip -o link: %s", strings.TrimSpace(string(out)))
	}

	dir := t.TempDir()
	run := func(stdin string, args ...string) result {
		t.Helper()
		r := client(t, stdin, args...)
		if r.code != 0 {
			t.Fatalf("sandyq-client %s: exit %d\n%s", args[0], r.code, r.stderr)
		}
		if hasRawControl(r.stdout) || hasRawControl(r.stderr) {
			t.Errorf("sandyq-client %s: raw control characters in the output", args[0])
		}
		return r
	}

	// keygen
	idPath := filepath.Join(dir, "journalist.txt")
	r := run("", "keygen", "-o", idPath)
	rcpt := parseRecipient(t, r.stdout)

	// A bundle from a source that knows its codename.
	name, err := codename.Normalize("abacus abdomen abdominal abide abiding ability ablaze")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sourcekey.Derive(name, bytes.Repeat([]byte{7}, 32), sourcekey.TestParams())
	if err != nil {
		t.Fatal(err)
	}
	srcHex := hex.EncodeToString(keys.SourceID[:])
	msgID, fileID, pdfID := [16]byte{0xaa, 1}, [16]byte{0xbb, 2}, [16]byte{0xcc, 3}
	items := []tbItem{
		{id: msgID, src: keys.SourceID, kind: bundle.Message, seq: 0, content: []byte("the minister \x1b[31mlied\x1b[0m\n")},
		{id: fileID, src: keys.SourceID, kind: bundle.File, seq: 1, filename: "photo.png", mediaType: "image/png", content: taggedPNG(t)},
		{id: pdfID, src: keys.SourceID, kind: bundle.File, seq: 3, filename: "memo.pdf", mediaType: "application/pdf", content: []byte("%PDF-1.4\n/Author (M)\n")},
	}
	bpath := writeFile(t, dir, "bundle.sqb", buildBundle(t, rcpt, items, tbOpts{
		recipients: map[[32]byte]string{keys.SourceID: keys.ReplyRecipient()},
	}))

	// open, pinning the instance key
	vpath := filepath.Join(dir, "vault")
	r = run("", "open", "-i", idPath, "-o", vpath, "--instance-key", testInstanceKey(t).Public().String(), bpath)
	if strings.Count(r.stdout, "\n") != 3 || !strings.Contains(r.stderr, "3 items imported") {
		t.Fatalf("open: %+v", r)
	}
	// again, with the pin only
	r = run("", "open", "-i", idPath, "-o", vpath, bpath)
	if !strings.Contains(r.stderr, "0 items imported, 3 already") {
		t.Fatalf("second open: %+v", r)
	}

	// list
	r = run("", "list", vpath)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || lines[0] != "# source "+srcHex[:16]+": 3 items; missing seq 2; reply recipient known; no reply sent" {
		t.Fatalf("list:\n%s", r.stdout)
	}

	// show
	r = run("", "show", vpath, hex.EncodeToString(msgID[:])[:8])
	if !strings.Contains(r.stdout, `the minister \x1b[31mlied\x1b[0m`) {
		t.Fatalf("show:\n%s", r.stdout)
	}

	// export --scrub: a PNG (scrubbed) and a PDF (not supported)
	out := filepath.Join(dir, "export")
	r = run("", "export", "--scrub", vpath, hex.EncodeToString(fileID[:]), "-o", out)
	exported, err := os.ReadFile(strings.TrimSpace(r.stdout))
	if err != nil || bytes.Contains(exported, []byte("AUTHOR-MARKER")) || !strings.Contains(r.stderr, "removed: PNG text") {
		t.Fatalf("export PNG: %v %+v", err, r)
	}
	r = run("", "export", "--scrub", vpath, hex.EncodeToString(pdfID[:]), "-o", out)
	if !strings.Contains(r.stderr, "warning: not scrubbed: PDF is not supported; treat this file as carrying metadata") {
		t.Fatalf("export PDF: %+v", r)
	}

	// reply, from stdin
	akPath := filepath.Join(dir, "access.key")
	run("", "access-key", "-o", akPath)
	rb := filepath.Join(dir, "replies.sqb")
	r = run("We got it. Stay safe.\n", "reply", "-i", idPath, "--vault", vpath, "--source", srcHex[:10],
		"--access-key", akPath, "-o", rb, "-")
	manifest, replies := readReplies(t, akPath, rb)
	if len(manifest) != 1 || !strings.HasPrefix(r.stdout, hex.EncodeToString(manifest[0].ID[:])) {
		t.Fatalf("reply: %+v", r)
	}
	er, err := envelope.Open(bytes.NewReader(replies[0]), keys.ReplyIdentity)
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(er)
	if err != nil || string(text) != "We got it. Stay safe.\n" || er.Header.Kind != envelope.Reply ||
		er.Header.ItemID != manifest[0].ID || er.Header.SourceID != keys.SourceID {
		t.Fatalf("reply as the source reads it: %q, %+v, %v", text, er.Header, err)
	}
	ids, _ := age.ParseIdentities(bytes.NewReader(mustRead(t, idPath)))
	if _, err := envelope.Open(bytes.NewReader(replies[0]), ids...); err != nil {
		t.Fatalf("the journalist cannot read the reply: %v", err)
	}
	r = run("", "list", vpath)
	if !strings.Contains(r.stdout, "1 reply sent") {
		t.Fatalf("list after reply:\n%s", r.stdout)
	}
	t.Log(netnsOKMarker)
}
