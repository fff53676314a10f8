package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"sandyq/crypto/codename"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

const submitUsage = `usage: sandyq submit --server ADDR --newsroom-key PUB [-m TEXT] [--codename-file FILE]
                     [--socks HOST:PORT] [--torrc FILE] [--tor PATH] FILE...

Sends a message and files to a sandyq drop, encrypted on THIS computer:
the server only ever sees age ciphertext. It fetches the newsroom's signed
recipient set, checks its signature with the newsroom key you give (the
newsroom publishes it), encrypts each item to it, uploads it through Tor,
and prints your codename on stdout.

WRITE THE CODENAME DOWN and keep it safe: it is the only way to come back
and read replies (in Tor Browser, at the same onion address). Anyone who has
it can read them too. It is never stored anywhere.

Flags:
    --newsroom-key PUB   the newsroom's public key (sandyq-newsroom1...) or a
                         file holding it
    -m TEXT              a message ("-" reads it from stdin)
    --codename-file FILE log in with the codename in FILE instead of making a
                         new one (to send more later)
` + netFlagsHelp + `
Examples:
    sandyq submit --server abcd...wxyz.onion --newsroom-key sandyq-newsroom1... -m "Read this" report.pdf
    echo "more" | sandyq submit --server abcd...wxyz.onion --newsroom-key newsroom.pub \
        --codename-file codename.txt -m - photo.jpg
`

// submitItem is one thing to send.
type submitItem struct {
	kind      envelope.Kind
	path      string // file to read; "" for the message
	text      []byte // the message
	size      int64  // content bytes
	filename  string
	mediaType string
}

func runSubmit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("submit")
	var nf netFlags
	nf.register(fs)
	newsroomFlag := fs.String("newsroom-key", "", "newsroom public key")
	msgFlag := fs.String("m", "", "message")
	codeFile := fs.String("codename-file", "", "file holding an existing codename")
	if err := parseFlags(e, fs, submitUsage, args); err != nil {
		return err
	}
	if *newsroomFlag == "" {
		return usageErr(e, "submit", "missing --newsroom-key PUB")
	}
	if *msgFlag == "" && fs.NArg() == 0 {
		return usageErr(e, "submit", "nothing to send: give -m TEXT and/or FILEs")
	}
	newsroom, err := readNewsroomKey(*newsroomFlag)
	if err != nil {
		return err
	}
	items, err := submitItems(e, *msgFlag, fs.Args())
	if err != nil {
		return err
	}
	var code string
	create := true
	if *codeFile != "" {
		b, err := readSmallFile(e, *codeFile, codename.MaxInput)
		if err != nil {
			return fmt.Errorf("reading --codename-file: %w", err)
		}
		if code, err = codename.Normalize(strings.TrimSpace(b)); err != nil {
			return errors.New("--codename-file does not hold a codename")
		}
		create = false
	} else if code, err = codename.Generate(e.rand); err != nil {
		return err
	}

	r, err := nf.connect(ctx, e, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	c := &sourceAPI{base: r.Base + "/api/v1", hc: r.HTTP}

	raw, err := c.recipients(ctx)
	if err != nil {
		return explainSubmitError(e, err)
	}
	set, err := recipients.Parse(raw, newsroom)
	if err != nil {
		return fmt.Errorf("the server's recipient set is not signed by this newsroom key: %w (nothing was sent)", err)
	}
	if err := set.CheckTime(time.Now()); err != nil {
		return fmt.Errorf("the server's recipient set: %w (nothing was sent)", err)
	}
	recips, err := set.AgeRecipients()
	if err != nil {
		return err
	}
	src, err := c.login(ctx, code, create)
	if err != nil {
		return explainSubmitError(e, err)
	}
	defer c.logout(context.WithoutCancel(ctx))
	srcID, err := hex.DecodeString(src)
	if err != nil || len(srcID) != 32 {
		return errors.New("the server sent a malformed source ID")
	}
	headerLen, err := ageHeaderLen(recips)
	if err != nil {
		return err
	}
	for i, it := range items {
		if err := c.send(ctx, e, it, set.ID, [32]byte(srcID), recips, headerLen, i+1, len(items)); err != nil {
			return explainSubmitError(e, fmt.Errorf("item %d of %d: %w", i+1, len(items), err))
		}
	}
	infof(e, "sent %d items, encrypted on this computer to recipient set %s", len(items), set.IDString())
	if create {
		warnf(e, "write down your codename (below) and keep it secret: it is the only way to read replies")
		fmt.Fprintln(e.stdout, code)
	}
	return nil
}

// readNewsroomKey takes the key text or a file holding it.
func readNewsroomKey(s string) (*sign.PublicKey, error) {
	if k, err := sign.ParsePublicKey(s, sign.Newsroom); err == nil {
		return k, nil
	}
	if sign.LooksSecret(s) {
		return nil, errors.New("--newsroom-key: that is a secret key; give the newsroom's public key (sandyq-newsroom1...)")
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, errors.New("--newsroom-key: neither a newsroom public key nor a readable file")
	}
	k, err := sign.ParsePublicKey(strings.TrimSpace(string(b)), sign.Newsroom)
	if err != nil {
		return nil, fmt.Errorf("--newsroom-key file: %w", err)
	}
	return k, nil
}

// submitItems checks everything to send before anything is sent.
func submitItems(e *env, msg string, files []string) ([]submitItem, error) {
	var items []submitItem
	if msg == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20+1))
		if err != nil {
			return nil, fmt.Errorf("reading the message: %w", err)
		}
		if len(b) > 1<<20 {
			return nil, errors.New("the message is over 1 MiB: send long text as a file")
		}
		msg = string(b)
	}
	if msg != "" {
		items = append(items, submitItem{kind: envelope.Message, text: []byte(msg), size: int64(len(msg))})
	}
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("cannot read a file: %w (nothing was sent)", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (nothing was sent)", p)
		}
		name := filepath.Base(p)
		mt := mime.TypeByExtension(filepath.Ext(name))
		if mt == "" || !printableASCII(mt) || len(mt) > envelope.MaxMediaType {
			mt = "application/octet-stream"
		}
		if len(name) > envelope.MaxFilename {
			name = name[:envelope.MaxFilename]
		}
		items = append(items, submitItem{kind: envelope.File, path: p, size: fi.Size(), filename: name, mediaType: mt})
	}
	return items, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ageHeaderLen measures the age header for these recipients: age's header
// length depends only on the recipients' types, and the payload's length
// only on the plaintext's, so the exact size of every file is known before
// it is encrypted (the server wants it in advance).
func ageHeaderLen(recips []age.Recipient) (int64, error) {
	var n countWriter
	w, err := age.Encrypt(&n, recips...)
	if err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return int64(n) - ageOverhead(0), nil
}

// ageOverhead is what age's payload adds to n bytes of plaintext: a
// 16-byte nonce and a 16-byte tag per 64 KiB chunk (one chunk at least).
func ageOverhead(n int64) int64 {
	chunks := max(1, (n+64<<10-1)/(64<<10))
	return 16 + 16*chunks
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// sourceAPI calls the source API.
type sourceAPI struct {
	base  string
	hc    *http.Client
	token string
}

// apiErr is an error answer of the source API.
type apiErr struct {
	status int
	msg    string
}

func (e *apiErr) Error() string { return fmt.Sprintf("server answered %d: %s", e.status, e.msg) }

func (c *sourceAPI) do(ctx context.Context, method, path string, body io.Reader, length int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil && method != http.MethodPut {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &apiErr{status: resp.StatusCode, msg: printableOnly(e.Error)}
	}
	if out != nil {
		if p, ok := out.(*[]byte); ok {
			*p = b
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("malformed answer from the server: %w", err)
		}
	}
	return nil
}

// printableOnly keeps a hostile server's text from reaching the terminal
// with control characters.
func printableOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b[:min(len(b), 300)])
}

func (c *sourceAPI) recipients(ctx context.Context) ([]byte, error) {
	var raw []byte
	err := c.do(ctx, http.MethodGet, "/recipients", nil, 0, &raw)
	return raw, err
}

func (c *sourceAPI) login(ctx context.Context, code string, create bool) (string, error) {
	body, _ := json.Marshal(map[string]any{"codename": code, "create": create})
	var res struct {
		Token  string `json:"token"`
		Source string `json:"source"`
	}
	if err := c.do(ctx, http.MethodPost, "/session", bytes.NewReader(body), int64(len(body)), &res); err != nil {
		return "", err
	}
	if len(res.Token) != 64 {
		return "", errors.New("malformed session token from the server")
	}
	c.token = res.Token
	return res.Source, nil
}

func (c *sourceAPI) logout(ctx context.Context) {
	if c.token != "" {
		c.do(ctx, http.MethodDelete, "/session", nil, 0, nil)
	}
}

// send reserves an item, then streams its envelope, encrypted here.
func (c *sourceAPI) send(ctx context.Context, e *env, it submitItem, setID [16]byte, srcID [32]byte,
	recips []age.Recipient, headerLen int64, n, total int) error {
	var f *os.File
	if it.path != "" {
		var err error
		if f, err = os.Open(it.path); err != nil {
			return err
		}
		defer f.Close()
	}
	h := &envelope.Header{SourceID: srcID, Kind: it.kind, Filename: it.filename, MediaType: it.mediaType}
	plain := envelope.PaddedSize(h, it.size)
	size := headerLen + plain + ageOverhead(plain)
	kind := "message"
	if it.kind == envelope.File {
		kind = "file"
	}
	body, _ := json.Marshal(map[string]any{"kind": kind, "set": hex.EncodeToString(setID[:]), "size": size})
	var res struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	if err := c.do(ctx, http.MethodPost, "/items", bytes.NewReader(body), int64(len(body)), &res); err != nil {
		return err
	}
	id, err := hex.DecodeString(res.ID)
	if err != nil || len(id) != 16 {
		return errors.New("malformed item ID from the server")
	}
	h.ItemID, h.Sequence = [16]byte(id), res.Seq

	pr, pw := io.Pipe()
	var counted countWriter
	go func() {
		w, err := envelope.Seal(io.MultiWriter(pw, &counted), h, recips...)
		if err == nil {
			var src io.Reader = bytes.NewReader(it.text)
			if f != nil {
				src = io.LimitReader(f, it.size)
			}
			var copied int64
			copied, err = io.Copy(w, src)
			if err == nil && copied != it.size {
				err = errors.New("the file changed size while it was read")
			}
			if err == nil {
				err = w.Close()
			}
		}
		if err == nil && int64(counted) != size {
			err = fmt.Errorf("encrypted size %d differs from the %d announced", counted, size)
		}
		pw.CloseWithError(err)
	}()
	bar := newProgress(e, fmt.Sprintf("sending %d/%d", n, total), size)
	err = c.do(ctx, http.MethodPut, "/items/"+res.ID, io.TeeReader(pr, bar), size, nil)
	bar.finish()
	pr.CloseWithError(errors.New("upload ended"))
	return err
}

// explainSubmitError adds what a source can do.
func explainSubmitError(e *env, err error) error {
	var ae *apiErr
	if errors.As(err, &ae) {
		switch ae.status {
		case http.StatusServiceUnavailable:
			hintf(e, "the drop is busy or closed right now; try again later")
		case http.StatusNotFound:
			hintf(e, "check the codename in --codename-file")
		}
		return err
	}
	return explainNetError(e, err)
}
