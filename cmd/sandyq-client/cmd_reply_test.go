package main

import (
	"bytes"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/client/accesskey"
	"sandyq/client/bundle"
	"sandyq/client/reply"
	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/sourcekey"
)

// replySetup opens a bundle from the source with the given codename into a
// vault and makes an access key. It returns the derived keys.
type replyEnv struct {
	dir, idPath, vpath, akPath string
	journalist                 []age.Identity
	keys                       *sourcekey.Keys
	srcHex                     string
}

func replySetup(t *testing.T) *replyEnv {
	t.Helper()
	name, err := codename.Normalize("Abacus  abdomen abdominal abide abiding ability ablaze")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sourcekey.Derive(name, bytes.Repeat([]byte{0x5a}, sourcekey.PepperSize), sourcekey.TestParams())
	if err != nil {
		t.Fatal(err)
	}
	re := &replyEnv{dir: t.TempDir(), keys: keys, srcHex: hex.EncodeToString(keys.SourceID[:])}
	re.idPath = filepath.Join(re.dir, "journalist.txt")
	r := runCmd(t, "keygen", "-o", re.idPath)
	checkOK(t, r)
	ids, err := age.ParseIdentities(bytes.NewReader(mustRead(t, re.idPath)))
	if err != nil {
		t.Fatal(err)
	}
	re.journalist = ids
	b := buildBundle(t, parseRecipient(t, r.stdout), []tbItem{
		{id: testItemID(1), src: keys.SourceID, kind: bundle.Message, seq: 0, content: []byte("I have documents.")},
	}, tbOpts{recipients: map[[32]byte]string{keys.SourceID: keys.ReplyRecipient()}})
	bpath := writeFile(t, re.dir, "in.bundle", b)
	re.vpath = filepath.Join(re.dir, "vault")
	checkOK(t, runCmd(t, "open", "-i", re.idPath, "-o", re.vpath, "--instance-key", testInstanceKey(t).Public().String(), bpath))
	re.akPath = filepath.Join(re.dir, "access.key")
	checkOK(t, runCmd(t, "access-key", "-o", re.akPath))
	return re
}

func (re *replyEnv) args(out string, extra ...string) []string {
	return append([]string{"reply", "-i", re.idPath, "--vault", re.vpath, "--source", re.srcHex[:8],
		"--access-key", re.akPath, "-o", out}, extra...)
}

// readReplies reads a reply bundle signed by the access key in akPath and
// returns its manifest entries and items.
func readReplies(t *testing.T, akPath, path string) ([]bundle.Reply, [][]byte) {
	t.Helper()
	ak, err := accesskey.Parse(string(mustRead(t, akPath)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := bundle.NewReader(f, bundle.Replies, bundle.TrustKeys(ak.Access.Public()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var items [][]byte
	for {
		_, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(item)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, b)
	}
	return br.Manifest().Replies, items
}

// TestReplyToDerivedSource is the source's side of a reply: the source
// derives its reply identity from its codename and decrypts what the
// journalist's client wrote, checking the envelope against the manifest.
func TestReplyToDerivedSource(t *testing.T) {
	re := replySetup(t)
	texts := []string{"Thank you. Please send page 2.\n", "Второе: қазақша жаза аламыз. \x1b[2J"}
	f1 := writeFile(t, re.dir, "r1.txt", []byte(texts[0]))
	out := filepath.Join(re.dir, "replies.bundle")
	e, _, _ := newEnv()
	e.stdin = strings.NewReader(texts[1])
	r := runEnv(t, e, re.args(out, f1, "-")...)
	checkOK(t, r)
	checkMode(t, out, 0o600)

	manifest, items := readReplies(t, re.akPath, out)
	if len(manifest) != 2 {
		t.Fatalf("%d replies", len(manifest))
	}
	got := map[string]bool{}
	for i, m := range manifest {
		if m.Source != re.keys.SourceID {
			t.Errorf("reply %d: manifest source", i)
		}
		if len(items[i]) > reply.MaxSize {
			t.Errorf("reply %d: %d bytes", i, len(items[i]))
		}
		if !strings.Contains(r.stdout, hex.EncodeToString(m.ID[:])) {
			t.Errorf("reply ID %x not printed: %q", m.ID, r.stdout)
		}
		// The source, with the identity derived from its codename.
		er, err := envelope.Open(bytes.NewReader(items[i]), re.keys.ReplyIdentity)
		if err != nil {
			t.Fatal(err)
		}
		h := er.Header
		if h.Kind != envelope.Reply || h.SourceID != re.keys.SourceID || h.ItemID != m.ID || h.Sequence != 0 ||
			h.Filename != "" || h.MediaType != "" {
			t.Errorf("reply %d: header %+v", i, h)
		}
		text, err := io.ReadAll(er)
		if err != nil {
			t.Fatal(err)
		}
		got[string(text)] = true
		// The newsroom can read what it sent.
		if _, err := envelope.Open(bytes.NewReader(items[i]), re.journalist...); err != nil {
			t.Errorf("the journalist's identity cannot read the reply: %v", err)
		}
	}
	for _, text := range texts {
		if !got[text] {
			t.Errorf("reply %q not found", text)
		}
	}

	// The vault records the replies, never their text.
	r = runCmd(t, "list", re.vpath)
	checkOK(t, r)
	if !strings.Contains(r.stdout, "2 replies sent, last 2026-03-04") || !strings.Contains(r.stdout, "reply recipient known") {
		t.Errorf("list: %q", r.stdout)
	}
	filepath.WalkDir(re.vpath, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("page 2")) || bytes.Contains(b, []byte("Второе")) {
				t.Errorf("reply text kept in the vault: %s", p)
			}
		}
		return nil
	})
	for _, m := range manifest {
		checkMode(t, filepath.Join(re.vpath, re.srcHex, ".meta", "reply-"+hex.EncodeToString(m.ID[:])+".json"), 0o600)
	}
}

func TestReplyRecipientSet(t *testing.T) {
	re := replySetup(t)
	nk := filepath.Join(re.dir, "newsroom.key")
	r := runCmd(t, "newsroom", "init", "-o", nk)
	checkOK(t, r)
	newsroomPub := strings.TrimSpace(r.stdout)
	id2 := filepath.Join(re.dir, "desk.txt")
	r = runCmd(t, "keygen", "-o", id2)
	checkOK(t, r)
	set := filepath.Join(re.dir, "set.txt")
	checkOK(t, runCmd(t, "recipients", "sign", "-k", nk, "-o", set, strings.TrimSpace(r.stdout)))
	text := writeFile(t, re.dir, "r.txt", []byte("hello"))

	out := filepath.Join(re.dir, "replies.bundle")
	checkOK(t, runCmd(t, re.args(out, "--recipients", set, "--newsroom-key", newsroomPub, text)...))
	_, items := readReplies(t, re.akPath, out)
	desk, _ := age.ParseIdentities(bytes.NewReader(mustRead(t, id2)))
	if _, err := envelope.Open(bytes.NewReader(items[0]), desk...); err != nil {
		t.Errorf("the set's recipient cannot read the reply: %v", err)
	}

	// A set signed by another newsroom key: refused.
	other := filepath.Join(re.dir, "other.key")
	r = runCmd(t, "newsroom", "init", "-o", other)
	checkOK(t, r)
	out2 := filepath.Join(re.dir, "replies2.bundle")
	r = runCmd(t, re.args(out2, "--recipients", set, "--newsroom-key", strings.TrimSpace(r.stdout), text)...)
	if r.code != 1 || !strings.Contains(r.stderr, "--recipients") {
		t.Errorf("wrong newsroom key: %+v", r)
	}
	if _, err := os.Lstat(out2); err == nil {
		t.Error("bundle written")
	}
}

func TestReplyRefusals(t *testing.T) {
	re := replySetup(t)
	good := writeFile(t, re.dir, "good.txt", []byte("ok"))

	// A classic X25519 identity next to the source's post-quantum recipient.
	x, _ := age.GenerateX25519Identity()
	classicID := writeFile(t, re.dir, "classic.txt", []byte(x.String()+"\n"))
	// A classic recipient set.
	nk := filepath.Join(re.dir, "newsroom.key")
	r := runCmd(t, "newsroom", "init", "-o", nk)
	checkOK(t, r)
	newsroomPub := strings.TrimSpace(r.stdout)
	classicSet := filepath.Join(re.dir, "classic-set.txt")
	checkOK(t, runCmd(t, "recipients", "sign", "-k", nk, "-o", classicSet, x.Recipient().String()))

	limit, err := reply.MaxText([]age.Recipient{re.keys.ReplyIdentity.Recipient(), re.journalist[0].(*age.HybridIdentity).Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	big := writeFile(t, re.dir, "big.txt", bytes.Repeat([]byte("a"), int(limit+1)))
	exact := writeFile(t, re.dir, "exact.txt", bytes.Repeat([]byte("a"), int(limit)))
	empty := writeFile(t, re.dir, "empty.txt", nil)
	binary := writeFile(t, re.dir, "binary.txt", []byte("MZ\x90\x00\xff\xfe"))
	badAK := writeFile(t, re.dir, "bad.key", []byte("access: SANDYQ-ACCESS-SECRET-KEY-1QQQQ\n"))
	existing := writeFile(t, re.dir, "existing.bundle", []byte("keep"))

	out := filepath.Join(re.dir, "out.bundle")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"classic identity", []string{"reply", "-i", classicID, "--vault", re.vpath, "--source", re.srcHex, "--access-key", re.akPath, "-o", out, good},
			1, "the -i identity is classic X25519 (age1…) but the source's reply recipient is post-quantum"},
		{"classic set", re.args(out, "--recipients", classicSet, "--newsroom-key", newsroomPub, good), 1, "the --recipients set is classic"},
		{"too large", re.args(out, big), 1, "reply FILE 1 is over " + strconv.FormatInt(limit, 10) + " bytes"},
		{"second too large", re.args(out, good, big), 1, "reply FILE 2 is over"},
		{"empty", re.args(out, empty), 1, "reply FILE 1: reply: the text is empty"},
		{"not text", re.args(out, binary), 1, "not UTF-8"},
		{"existing output", re.args(existing, good), 1, "already exists"},
		{"missing file", re.args(out, filepath.Join(re.dir, "nope")), 1, "reply FILE 1"},
		{"bad access key", []string{"reply", "-i", re.idPath, "--vault", re.vpath, "--source", re.srcHex, "--access-key", badAK, "-o", out, good}, 1, "malformed access key file"},
		{"unknown source", []string{"reply", "-i", re.idPath, "--vault", re.vpath, "--source", "bbbbbbbb", "--access-key", re.akPath, "-o", out, good}, 1, "not in the vault"},
		{"short source", []string{"reply", "-i", re.idPath, "--vault", re.vpath, "--source", re.srcHex[:7], "--access-key", re.akPath, "-o", out, good}, 1, "8 to 64 hex digits"},
		{"no file", re.args(out), 2, "no reply FILE"},
		{"stdin twice", re.args(out, "-", "-"), 2, "once"},
		{"set without key", re.args(out, "--recipients", classicSet, good), 2, "go together"},
		{"no source", []string{"reply", "-i", re.idPath, "--vault", re.vpath, "--access-key", re.akPath, "-o", out, good}, 2, "--source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("exit %d, want %d and %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "SECRET-KEY-1") || strings.Contains(r.stderr, re.dir) {
				t.Errorf("stderr shows a secret or a path:\n%s", r.stderr)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Fatal("bundle left behind")
			}
		})
	}
	if string(mustRead(t, existing)) != "keep" {
		t.Error("existing output changed")
	}

	// The largest text that fits makes a reply the server accepts.
	checkOK(t, runCmd(t, re.args(out, exact)...))
	m, _ := readReplies(t, re.akPath, out)
	if len(m) != 1 || m[0].Size > reply.MaxSize {
		t.Errorf("exact limit: %+v", m)
	}

	// A source whose reply recipient the vault does not know.
	os.Remove(filepath.Join(re.vpath, re.srcHex, ".meta", "source.json"))
	r = runCmd(t, re.args(filepath.Join(re.dir, "x.bundle"), good)...)
	if r.code != 1 || !strings.Contains(r.stderr, "does not know the reply recipient") {
		t.Errorf("unknown recipient: %+v", r)
	}
	r = runCmd(t, "list", re.vpath)
	if !strings.Contains(r.stdout, "reply recipient unknown") || !strings.Contains(r.stdout, "1 reply sent") {
		t.Errorf("list: %q", r.stdout)
	}
}
