package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"

	"sandyq/client/reply"
	"sandyq/client/vault"
	"sandyq/crypto/sign"
)

const replyHelp = `usage: sandyq-client reply -i IDENTITY --vault VAULT --source SOURCE --access-key KEYFILE -o BUNDLE [flags] FILE...

Write replies to a source into a reply bundle, to carry to the online
workstation and upload with "sandyq push". Each FILE is one reply: UTF-8
text, not empty ("-" reads one reply from stdin; on a terminal, end it
with Ctrl-D).

Each reply gets a random ID and is encrypted with age to:

  - the source's reply recipient, which the vault learnt from the bundles
    opened into it ("list" says whether it is known): only the source,
    with its codename, can read the reply;
  - the recipients of IDENTITY, so that the newsroom can read again what it
    sent (IDENTITY is read like "open" reads it, with a passphrase if it
    has one);
  - with --recipients SET --newsroom-key PUB, every recipient of the signed
    recipient set SET ("sandyq-client recipients sign"), after checking its
    signature against the newsroom key PUB.

age cannot encrypt one file to post-quantum and classic keys together:
sources' reply recipients are post-quantum (age1pq1...), so IDENTITY and
SET must be post-quantum too; otherwise the command refuses and says which.

A reply is at most 4 MiB once padded and encrypted, which leaves about
3.9 MiB of text (a little less with many recipients); a longer text is
refused with its size and the exact limit. The replies are signed with the access key in KEYFILE
("sandyq-client access-key"), which the server checks on upload. BUNDLE is
created with mode 0600, never overwritten, and removed if anything fails.

The vault records each reply's ID and day (never its text) so that "list"
shows the source was answered. The reply IDs are printed on stdout.

SOURCE is the source's ID as "list" shows it: 8 or more of its first hex
digits, if no other source starts with them.

Flags:
    -i IDENTITY             the journalist's age identity file (required)
    --vault VAULT           the vault holding the source (required)
    --source SOURCE         the source to reply to (required)
    --access-key KEYFILE    the journalist's access key file (required)
    -o BUNDLE               the reply bundle to create (required)
    --recipients SET        also encrypt to this signed recipient set
    --newsroom-key PUB      the newsroom public key (or a file holding it)
                            that must have signed SET

Examples:
    sandyq-client reply -i journalist.age --vault vault --source a1b2c3d4 \
        --access-key access.key -o /media/usb/replies.sqb reply.txt
    sandyq-client reply -i journalist.age --vault vault --source a1b2c3d4 \
        --access-key access.key -o replies.sqb \
        --recipients set.txt --newsroom-key sandyq-newsroom1... -
`

func runReply(ctx context.Context, e *env, args []string) error {
	const name = "reply"
	fs := newFlagSet(name)
	idPath := fs.String("i", "", "")
	vaultDir := fs.String("vault", "", "")
	source := fs.String("source", "", "")
	akPath := fs.String("access-key", "", "")
	out := fs.String("o", "", "")
	setPath := fs.String("recipients", "", "")
	newsroom := fs.String("newsroom-key", "", "")
	files, err := parseFlags(e, fs, replyHelp, args)
	if err != nil {
		return err
	}
	switch {
	case *idPath == "":
		return usageErr(e, name, "missing -i IDENTITY")
	case *vaultDir == "":
		return usageErr(e, name, "missing --vault VAULT")
	case *source == "":
		return usageErr(e, name, "missing --source SOURCE")
	case *akPath == "":
		return usageErr(e, name, "missing --access-key KEYFILE")
	case *out == "":
		return usageErr(e, name, "missing -o BUNDLE")
	case len(files) == 0:
		return usageErr(e, name, "no reply FILE given")
	case (*setPath == "") != (*newsroom == ""):
		return usageErr(e, name, "--recipients and --newsroom-key go together")
	case countStdin(files) > 1:
		return usageErr(e, name, `stdin ("-") can be given once`)
	}

	v, err := vault.OpenExisting(*vaultDir)
	if err != nil {
		return vaultErr(err, "--vault")
	}
	defer v.Close()
	src, err := v.Source(*source)
	if err != nil {
		if errors.Is(err, vault.ErrNotFound) || errors.Is(err, vault.ErrAmbiguous) {
			return &hintError{err, `run "sandyq-client list VAULT" for the sources; give 8 or more digits of one`}
		}
		return err
	}
	if src.ReplyRecipient == "" {
		return &hintError{fmt.Errorf("the vault does not know the reply recipient of source %s", shortID(src.ID)),
			"open a bundle that lists this source (a newer one from \"sandyq fetch\")"}
	}
	srcID, err := hex.DecodeString(src.ID)
	if err != nil || len(srcID) != 32 {
		return fmt.Errorf("source %s: malformed ID", shortID(src.ID))
	}

	named, err := newsroomRecipients(e, *idPath, *setPath, *newsroom)
	if err != nil {
		return err
	}
	rs, err := reply.Recipients(src.ReplyRecipient, named)
	if errors.Is(err, reply.ErrMixedKinds) {
		return &hintError{err, "use post-quantum keys: \"sandyq-client keygen\" makes a post-quantum identity, and a recipient set of age1pq1... recipients is post-quantum"}
	}
	if err != nil {
		return err
	}
	ak, err := readAccessKeyFile(*akPath)
	if err != nil {
		return err
	}

	limit, err := reply.MaxText(rs)
	if err != nil {
		return err
	}
	var replies []*reply.Reply
	for i, f := range files {
		text, err := readReply(e, f, i+1, limit)
		if err != nil {
			return err
		}
		r, err := reply.Seal(e.rand, [32]byte(srcID), text, rs)
		clear(text)
		if err != nil {
			return fmt.Errorf("reply FILE %d: %w", i+1, err)
		}
		replies = append(replies, r)
	}

	if err := writeReplyBundle(*out, replies, ak.Access); err != nil {
		return err
	}
	day := uint32(e.now().Unix() / 86400)
	for _, r := range replies {
		if err := v.RecordReply(r.Source, r.ID, day); err != nil {
			return &hintError{fmt.Errorf("recording the replies in the vault: %w", err),
				"the -o bundle is complete and can be pushed; \"list\" will not count these replies"}
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%d\n", hex.EncodeToString(r.ID[:]), shortID(src.ID), len(r.Data))
	}
	infof(e, "wrote %s for source %s to the -o bundle", plural(len(replies), "reply", "replies"), shortID(src.ID))
	hintf(e, "carry the bundle to the online workstation and run \"sandyq push\"")
	return nil
}

func countStdin(files []string) int {
	n := 0
	for _, f := range files {
		if f == "-" {
			n++
		}
	}
	return n
}

// newsroomRecipients returns the recipients of the identity file and, if
// given, of the signed recipient set.
func newsroomRecipients(e *env, idPath, setPath, newsroomKey string) ([]reply.Named, error) {
	ids, err := readIdentities(e, idPath)
	if err != nil {
		return nil, err
	}
	var named []reply.Named
	for _, id := range ids {
		switch id := id.(type) {
		case *age.HybridIdentity:
			named = append(named, reply.Named{What: "the -i identity", Recipient: id.Recipient().String()})
		case *age.X25519Identity:
			named = append(named, reply.Named{What: "the -i identity", Recipient: id.Recipient().String()})
		}
	}
	if len(named) == 0 {
		return nil, errors.New("the -i file holds no identity that replies can be encrypted to")
	}
	if setPath == "" {
		return named, nil
	}
	set, err := readSignedSet(setPath, newsroomKey)
	if err != nil {
		return nil, err
	}
	if err := set.CheckTime(e.now()); err != nil {
		warnf(e, "the --recipients set %s: %v; encrypting to it all the same", set.IDString(), err)
	}
	for _, r := range set.Recipients {
		named = append(named, reply.Named{What: "the --recipients set", Recipient: r})
	}
	return named, nil
}

// readPublicKey parses a public key of kind k given as the key itself or
// as a file holding it. Neither is ever echoed.
func readPublicKey(val string, k sign.Kind, flagName string) (*sign.PublicKey, error) {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(val)), "sandyq-") {
		data, err := readSmall(val, flagName)
		if err != nil {
			return nil, err
		}
		val = string(data)
	}
	key, err := sign.ParsePublicKey(val, k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	return key, nil
}

// readReply reads reply number n from path ("-": stdin), refusing more
// than limit bytes.
func readReply(e *env, path string, n int, limit int64) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		if e.stdinTerminal {
			infof(e, "type reply %d, then Ctrl-D on a line of its own", n)
		}
		r = e.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fileErr("opening", fmt.Sprintf("reply FILE %d", n), err)
		}
		defer f.Close()
		r = f
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, limit+1)); err != nil {
		return nil, fileErr("reading", fmt.Sprintf("reply FILE %d", n), err)
	}
	if int64(buf.Len()) > limit {
		clear(buf.Bytes())
		return nil, fmt.Errorf("reply FILE %d is over %d bytes, the most that fits in one reply (4 MiB once padded and encrypted): split it into several FILEs", n, limit)
	}
	if err := reply.CheckText(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("reply FILE %d: %w", n, err)
	}
	return buf.Bytes(), nil
}

// writeReplyBundle writes the reply bundle to path: created with O_EXCL
// and mode 0600, synced, and removed on any error.
func writeReplyBundle(path string, rs []*reply.Reply, key *sign.PrivateKey) error {
	return writeBundleFile(path, func(w io.Writer) error { return reply.WriteBundle(w, rs, key) }, reply.ErrTooLarge)
}
