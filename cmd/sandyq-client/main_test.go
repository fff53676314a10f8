package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"sandyq/client/accesskey"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/onion"
)

// counter is a deterministic randomness source: 0, 1, 2, … from a start.
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// seq makes each runCmd's randomness different (tests are not parallel).
var seq byte

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type result struct {
	code           int
	stdout, stderr string
}

// newEnv returns a test environment; passphrases, if any, are answered in
// order.
func newEnv(passphrases ...string) (*env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	e := &env{
		stdout:     &stdout,
		stderr:     &stderr,
		rand:       &counter{},
		getenv:     func(string) string { return "" },
		now:        func() time.Time { return testNow },
		scryptLogN: 10,
		passphrase: func(e *env, prompt string) (string, error) {
			if len(passphrases) == 0 {
				return "", errors.New("no passphrase given")
			}
			p := passphrases[0]
			passphrases = passphrases[1:]
			return p, nil
		},
	}
	return e, &stdout, &stderr
}

func runEnv(t *testing.T, e *env, args ...string) result {
	t.Helper()
	code := run(context.Background(), args, e)
	return result{code, e.stdout.(*bytes.Buffer).String(), e.stderr.(*bytes.Buffer).String()}
}

func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	e, _, _ := newEnv()
	seq += 41
	e.rand = &counter{n: seq}
	return runEnv(t, e, args...)
}

func checkOK(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
	}
}

func encryptTo(t *testing.T, recipient, msg string) []byte {
	t.Helper()
	r, err := age.ParseHybridRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decryptWith(t *testing.T, ids []age.Identity, ct []byte) string {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "id.txt")
	r := runCmd(t, "keygen", "-o", id)
	checkOK(t, r)
	checkMode(t, id, 0o600)
	recipient := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(recipient, "age1pq1") || strings.Contains(r.stderr, "AGE-SECRET") {
		t.Fatalf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(id)
	lines := strings.Split(string(data), "\n")
	if len(lines) != 4 || lines[0] != "# created: 2026-03-04" ||
		lines[1] != "# public key: "+recipient || !strings.HasPrefix(lines[2], "AGE-SECRET-KEY-PQ-1") || lines[3] != "" {
		t.Fatalf("identity file:\n%s", data)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := decryptWith(t, ids, encryptTo(t, recipient, "a tip")); got != "a tip" {
		t.Fatalf("decrypted %q", got)
	}

	// Never overwrite, and leave the file as it was.
	r = runCmd(t, "keygen", "-o", id)
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") || r.stdout != "" {
		t.Fatalf("overwrite: %+v", r)
	}
	if d2, _ := os.ReadFile(id); !bytes.Equal(d2, data) {
		t.Fatal("identity file changed")
	}
	// Nor through a dangling symlink.
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "target"), link)
	if r := runCmd(t, "keygen", "-o", link); r.code != 1 {
		t.Fatalf("dangling symlink: %+v", r)
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); err == nil {
		t.Fatal("followed a dangling symlink")
	}
}

func TestKeygenPassphrase(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "id.age")
	e, _, _ := newEnv("correct horse", "correct horse")
	r := runEnv(t, e, "keygen", "--passphrase", "-o", id)
	checkOK(t, r)
	checkMode(t, id, 0o600)
	recipient := strings.TrimSpace(r.stdout)
	data, _ := os.ReadFile(id)
	if !strings.HasPrefix(string(data), armor.Header) || bytes.Contains(data, []byte("AGE-SECRET")) {
		t.Fatalf("not an armored age file:\n%s", data)
	}
	if strings.Contains(r.stderr, "correct horse") {
		t.Fatal("passphrase on stderr")
	}
	si, err := age.NewScryptIdentity("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	plain := decryptWith(t, []age.Identity{si}, readArmor(t, data))
	ids, err := age.ParseIdentities(strings.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	if got := decryptWith(t, ids, encryptTo(t, recipient, "a tip")); got != "a tip" {
		t.Fatalf("decrypted %q", got)
	}
	wrong, _ := age.NewScryptIdentity("wrong")
	if _, err := age.Decrypt(armor.NewReader(bytes.NewReader(data)), wrong); err == nil {
		t.Fatal("wrong passphrase decrypted")
	}

	for name, answers := range map[string][]string{
		"mismatch": {"one", "two"},
		"empty":    {"", ""},
		"none":     nil,
	} {
		out := filepath.Join(dir, name)
		e, _, _ := newEnv(answers...)
		r := runEnv(t, e, "keygen", "--passphrase", "-o", out)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%s: %+v", name, r)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: file created", name)
		}
	}

	// $SANDYQ_PASSPHRASE, when no prompt function is set.
	e, _, _ = newEnv()
	e.passphrase = nil
	e.getenv = func(k string) string {
		if k == passphraseEnv {
			return "from env"
		}
		return ""
	}
	out := filepath.Join(dir, "env.age")
	checkOK(t, runEnv(t, e, "keygen", "--passphrase", "-o", out))
	data, _ = os.ReadFile(out)
	si, _ = age.NewScryptIdentity("from env")
	decryptWith(t, []age.Identity{si}, readArmor(t, data))
}

func readArmor(t *testing.T, data []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(armor.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewsroomAndRecipients(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "newsroom.key")
	r := runCmd(t, "newsroom", "init", "-o", key)
	checkOK(t, r)
	checkMode(t, key, 0o600)
	pub, err := sign.ParsePublicKey(r.stdout, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := os.ReadFile(key)
	if _, err := sign.ParsePrivateKey(string(secret), sign.Newsroom); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, "newsroom", "init", "-o", key); r.code != 1 {
		t.Fatalf("overwrite: %+v", r)
	}

	var recs []string
	for i := range 3 {
		r := runCmd(t, "keygen", "-o", filepath.Join(dir, "id"+string(rune('a'+i))))
		checkOK(t, r)
		recs = append(recs, strings.TrimSpace(r.stdout))
	}
	rfile := filepath.Join(dir, "recipients.txt")
	os.WriteFile(rfile, []byte("# journalists\n"+recs[1]+"\n\n  "+recs[2]+"  \n"), 0o644)

	set := filepath.Join(dir, "set.txt")
	r = runCmd(t, "recipients", "sign", "-k", key, "-o", set, "--not-before", "2026-01-01", "--valid", "30d", recs[0], "-R", rfile)
	checkOK(t, r)
	checkMode(t, set, 0o644)
	data, _ := os.ReadFile(set)
	s, err := recipients.Parse(data, pub)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(r.stdout) != s.IDString() || s.Kind != recipients.PQ ||
		strings.Join(s.Recipients, ",") != strings.Join(recs, ",") ||
		!s.NotBefore.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!s.NotAfter.Equal(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("set %+v, stdout %q", s.Set, r.stdout)
	}
	if !strings.Contains(r.stderr, "warning: the set is not valid now") {
		t.Errorf("no warning for a set that has expired: %q", r.stderr)
	}

	// Defaults: from now, for 365 days.
	set2 := filepath.Join(dir, "set2.txt")
	checkOK(t, runCmd(t, "recipients", "sign", "-k", key, "-o", set2, recs[0]))
	data, _ = os.ReadFile(set2)
	s, err = recipients.Parse(data, pub)
	if err != nil || !s.NotBefore.Equal(testNow) || !s.NotAfter.Equal(testNow.Add(365*24*time.Hour)) {
		t.Fatalf("defaults: %v, %+v", err, s)
	}
	if r := runCmd(t, "recipients", "sign", "-k", key, "-o", set2, recs[0]); r.code != 1 {
		t.Fatalf("overwrite: %+v", r)
	}

	// A key of another kind is refused.
	ak := filepath.Join(dir, "access.key")
	checkOK(t, runCmd(t, "access-key", "-o", ak))
	if r := runCmd(t, "recipients", "sign", "-k", ak, "-o", filepath.Join(dir, "x"), recs[0]); r.code != 1 {
		t.Fatalf("access key as newsroom key: %+v", r)
	}
}

func TestRecipientsRefusals(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "newsroom.key")
	checkOK(t, runCmd(t, "newsroom", "init", "-o", key))
	idFile := filepath.Join(dir, "id")
	r := runCmd(t, "keygen", "-o", idFile)
	checkOK(t, r)
	pq := strings.TrimSpace(r.stdout)
	idData, _ := os.ReadFile(idFile)
	ageSecret := strings.TrimSpace(strings.Split(string(idData), "\n")[2])
	nsSecret := strings.TrimSpace(string(mustRead(t, key)))
	x, _ := age.GenerateX25519Identity()

	secretFile := filepath.Join(dir, "secrets.txt")
	os.WriteFile(secretFile, []byte(pq+"\n"+ageSecret+"\n"), 0o644)

	out := filepath.Join(dir, "set.txt")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		secret string
	}{
		{"age secret", []string{pq, ageSecret}, 1, ageSecret},
		{"age secret lower", []string{strings.ToLower(ageSecret)}, 1, strings.ToLower(ageSecret)},
		{"newsroom secret", []string{nsSecret}, 1, nsSecret},
		{"secret in -R file", []string{"-R", secretFile}, 1, ageSecret},
		{"secret as -R", []string{"-R", ageSecret}, 2, ageSecret},
		{"secret as flag value", []string{"--valid", ageSecret, pq}, 2, ageSecret},
		{"mixed kinds", []string{pq, x.Recipient().String()}, 1, ""},
		{"duplicate", []string{pq, pq}, 1, ""},
		{"garbage", []string{"age1nope"}, 1, ""},
		{"no recipients", nil, 2, ""},
		{"bad not-before", []string{"--not-before", "tomorrow", pq}, 2, ""},
		{"bad valid", []string{"--valid", "-3d", pq}, 2, ""},
		{"missing -R file", []string{"-R", filepath.Join(dir, "nope"), pq}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"recipients", "sign", "-k", key, "-o", out}, tc.args...)
			r := runCmd(t, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			if tc.secret != "" && (strings.Contains(r.stderr, tc.secret) || strings.Contains(strings.ToUpper(r.stderr), strings.ToUpper(tc.secret))) {
				t.Fatalf("secret echoed:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, nsSecret) || strings.Contains(r.stderr, dir) {
				t.Fatalf("stderr names a secret or a path:\n%s", r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "sandyq-client: error: ") || r.stdout != "" {
				t.Fatalf("output: %+v", r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("output file created")
			}
		})
	}
	if r := runCmd(t, "recipients", "sign", "-k", key, "-o", out, pq, ageSecret); !strings.Contains(r.stderr, "secret key") {
		t.Errorf("the refusal does not say why:\n%s", r.stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAccessKey(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "access.key")
	r := runCmd(t, "access-key", "-o", kf)
	checkOK(t, r)
	checkMode(t, kf, 0o600)

	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	apub, ok := strings.CutPrefix(lines[0], "access: ")
	if !ok {
		t.Fatalf("line 1: %q", lines[0])
	}
	if _, err := sign.ParsePublicKey(apub, sign.Access); err != nil {
		t.Fatal(err)
	}
	opub, ok := strings.CutPrefix(lines[1], "onion-auth: ")
	if !ok || len(opub) != 52 || opub != strings.ToUpper(opub) {
		t.Fatalf("line 2: %q", lines[1])
	}
	ck, err := onion.ParseClientKey(opub)
	if err != nil {
		t.Fatal(err)
	}
	if ck.String() != opub {
		t.Fatal("client key does not round trip")
	}

	secret := string(mustRead(t, kf))
	k, err := accesskey.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	if k.Public() != r.stdout || k.String() != secret {
		t.Fatal("key file and printed public keys disagree")
	}
	if strings.Contains(r.stdout+r.stderr, k.Access.String()) || strings.Contains(r.stdout, strings.TrimPrefix(strings.Split(secret, "\n")[1], "onion-auth: ")) {
		t.Fatal("a secret was printed")
	}
	// The private key has tor's form too (the journalist's tor reads it).
	if _, err := onion.ParseClientKey(strings.TrimPrefix(strings.Split(secret, "\n")[1], "onion-auth: ")); err != nil {
		t.Fatalf("onion-auth private key not in tor's form: %v", err)
	}

	for _, bad := range []string{
		"",
		secret + "extra\n",
		strings.Replace(secret, "access: ", "access:", 1),
		strings.Split(secret, "\n")[1] + "\n" + strings.Split(secret, "\n")[0] + "\n",
		strings.Replace(secret, "onion-auth: ", "onion-auth: A", 1),
	} {
		if _, err := accesskey.Parse(bad); !errors.Is(err, accesskey.ErrMalformed) {
			t.Errorf("accepted a malformed file: %v", err)
		}
	}
	if r := runCmd(t, "access-key", "-o", kf); r.code != 1 {
		t.Fatalf("overwrite: %+v", r)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		nil,
		{"nope"},
		{"keygen"},
		{"keygen", "-o", filepath.Join(dir, "a"), "extra"},
		{"keygen", "--bogus"},
		{"newsroom"},
		{"newsroom", "nope"},
		{"newsroom", "init"},
		{"recipients", "sign", "-o", filepath.Join(dir, "b"), "age1pq1x"},
		{"recipients", "sign", "-k", filepath.Join(dir, "k")},
		{"access-key"},
		{"version", "extra"},
	} {
		r := runCmd(t, args...)
		if r.code != 2 {
			t.Errorf("%q: exit %d, want 2", args, r.code)
		}
		if r.stdout != "" {
			t.Errorf("%q: stdout %q", args, r.stdout)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created: %v", entries)
	}
	for _, args := range [][]string{
		{"-h"}, {"keygen", "-h"}, {"newsroom", "-h"}, {"newsroom", "init", "-h"},
		{"recipients", "-h"}, {"recipients", "sign", "-h"}, {"access-key", "-h"}, {"version", "-h"},
	} {
		r := runCmd(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage") && !strings.Contains(r.stdout, "Usage") {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
		if args[0] != "version" && !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%q: no examples", args)
		}
	}
	if r := runCmd(t, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "sandyq-client ") {
		t.Errorf("version: %+v", r)
	}
}
