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
	"net/url"
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
                     [--socks HOST:PORT] [--torrc FILE] [--tor PATH] [--dev] [FILE...]

Sends a message and files to a sandyq drop, encrypted on THIS computer:
the server only ever sees age ciphertext. It fetches the newsroom's signed
recipient set, checks its signature with the newsroom key you give (the
newsroom publishes it), encrypts each item to it, uploads it through Tor,
and, the first time, prints your new codename on stdout.

WRITE THE CODENAME DOWN and keep it secret: it is the only way to come back
(in Tor Browser, at the same onion address) to read replies, or to send
more with --codename-file. Anyone who has it can do the same. It is not
stored anywhere, and this command never shows it again.

File names and types travel inside the encryption; the newsroom sees the
file's name (not its folder). Other metadata inside the files (a photo's
location, a document's author) is sent as it is: remove it first.

Flags:
    --newsroom-key PUB   the newsroom's public key (sandyq-newsroom1...) or a
                         file holding it
    -m TEXT              a message ("-" reads it from stdin; at most 1 MiB)
    --codename-file FILE log in with the codename in FILE ("-": stdin)
                         instead of making a new one, to send more
` + netFlagsHelp + `
Exit codes:
    0  everything was sent and stored
    1  error: nothing, or only the items counted on stderr, was stored
    2  usage error

Examples:
    sandyq submit --server abcd...wxyz.onion --newsroom-key sandyq-newsroom1... -m "Read this" report.pdf
    echo "more" | sandyq submit --server abcd...wxyz.onion --newsroom-key newsroom.pub \
        --codename-file codename.txt -m - photo.jpg
    sandyq submit --server abcd...wxyz.onion --socks 127.0.0.1:9150 --newsroom-key newsroom.pub notes.txt
`

// maxSubmitMessage caps the message, as the web form does.
const maxSubmitMessage = 1 << 20

// submitItem is one thing to send.
type submitItem struct {
	kind      envelope.Kind
	path      string // file to read; "" for the message
	text      []byte // the message
	filename  string
	mediaType string
}

// submitJob is a checked command line: everything is known and read
// before the first byte goes out.
type submitJob struct {
	nf       netFlags
	newsroom *sign.PublicKey
	items    []submitItem
	code     string // the codename, normalised
	create   bool   // a new source: code was made here
}

func runSubmit(ctx context.Context, e *env, args []string) error {
	j, err := parseSubmit(e, args)
	if err != nil {
		return err
	}
	return j.run(ctx, e)
}

// parseSubmit checks the command line and reads the message, the files'
// metadata, the newsroom key and the codename.
func parseSubmit(e *env, args []string) (*submitJob, error) {
	j := &submitJob{}
	fs := newFlagSet("submit")
	j.nf.register(fs)
	newsroomFlag := fs.String("newsroom-key", "", "newsroom public key")
	msgFlag := fs.String("m", "", "message")
	codeFile := fs.String("codename-file", "", "file holding an existing codename")
	if err := parseFlags(e, fs, submitUsage, args); err != nil {
		return nil, err
	}
	switch {
	case *newsroomFlag == "":
		return nil, usageErr(e, "submit", "missing --newsroom-key PUB")
	case *msgFlag == "" && fs.NArg() == 0:
		return nil, usageErr(e, "submit", "nothing to send: give -m TEXT and/or FILEs")
	case *msgFlag == "-" && *codeFile == "-":
		return nil, usageErr(e, "submit", "-m - and --codename-file - cannot both read stdin")
	}
	if _, _, err := j.nf.serverBase(); err != nil {
		return nil, usageErr(e, "submit", "%v", err)
	}
	var err error
	if j.newsroom, err = readNewsroomKey(*newsroomFlag); err != nil {
		return nil, err
	}
	if j.items, err = submitItems(e, *msgFlag, fs.Args()); err != nil {
		return nil, err
	}
	j.create = *codeFile == ""
	if j.create {
		j.code, err = codename.Generate(e.rand)
		return j, err
	}
	if j.code, err = readCodenameFile(e, *codeFile); err != nil {
		return nil, err
	}
	if it := j.items[0]; it.kind == envelope.Message && containsCodename(it.text, j.code) {
		hintf(e, "anyone who reads the message could then read your replies and send in your name")
		return nil, errors.New("the message contains your codename: remove it (nothing was sent)")
	}
	return j, nil
}

// run sends the items: fetch and verify the recipient set, log in, reserve
// and upload each item, log out. A new source's codename goes to stdout
// once anything was stored.
func (j *submitJob) run(ctx context.Context, e *env) error {
	r, err := j.nf.connect(ctx, e, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	c := &sourceAPI{base: r.Base + "/api/v1", hc: r.HTTP}
	signed, recips, headerLen, err := j.recipientSet(ctx, e, c)
	if err != nil {
		return err
	}
	src, err := c.login(ctx, j.code, j.create)
	if err != nil {
		if ae, ok := errors.AsType[*apiErr](err); ok && ae.status == http.StatusNotFound {
			hintf(e, "check the codename in --codename-file (and that this is the drop you used it on)")
		}
		return explainSubmitError(e, fmt.Errorf("logging in: %w (nothing was sent)", err))
	}
	defer func() {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.logout(lctx)
	}()
	sent := 0
	for i, it := range j.items {
		if err = c.send(ctx, e, it, signed.ID, src, recips, headerLen, i+1, len(j.items)); err != nil {
			err = explainSubmitError(e, fmt.Errorf("item %d of %d: %w", i+1, len(j.items), err))
			break
		}
		sent++
	}
	switch {
	case err == nil:
		infof(e, "sent %d items, encrypted on this computer to recipient set %s; the server stored them",
			sent, signed.IDString())
	case sent > 0:
		infof(e, "sent %d of %d items before the error; the server stored those", sent, len(j.items))
	}
	if j.create && sent > 0 {
		warnf(e, "write down your codename (the line on stdout) and keep it secret: it is the only way to read replies")
		if err != nil {
			hintf(e, "to send the rest, save the codename in a file and run again with --codename-file FILE")
		}
		fmt.Fprintln(e.stdout, j.code)
	}
	return err
}

// recipientSet fetches the set in force and checks it against the
// newsroom key and the clock. It returns the age header length for its
// recipients too.
func (j *submitJob) recipientSet(ctx context.Context, e *env, c *sourceAPI) (*recipients.Signed, []age.Recipient, int64, error) {
	raw, err := c.recipients(ctx)
	if err != nil {
		return nil, nil, 0, explainSubmitError(e, fmt.Errorf("fetching the recipient set: %w", err))
	}
	signed, err := recipients.Parse(raw, j.newsroom)
	if err != nil {
		hintf(e, "check --newsroom-key against the key the newsroom publishes; if it is right, this server is not the newsroom's")
		return nil, nil, 0, fmt.Errorf("the server's recipient set is not signed by this newsroom key: %w (nothing was sent)", err)
	}
	if err := signed.CheckTime(time.Now()); err != nil {
		hintf(e, "check this computer's clock; otherwise tell the newsroom")
		return nil, nil, 0, fmt.Errorf("the server's recipient set: %w (nothing was sent)", err)
	}
	recips, err := signed.AgeRecipients()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("the server's recipient set: %w (nothing was sent)", err)
	}
	headerLen, err := ageHeaderLen(recips)
	if err != nil {
		return nil, nil, 0, err
	}
	return signed, recips, headerLen, nil
}

// readNewsroomKey takes the key text or a file holding it.
func readNewsroomKey(s string) (*sign.PublicKey, error) {
	if k, err := sign.ParsePublicKey(s, sign.Newsroom); err == nil {
		return k, nil
	}
	if sign.LooksSecret(s) {
		return nil, errors.New("--newsroom-key: that is a secret key; give the newsroom's public key (sandyq-newsroom1...)")
	}
	f, err := os.Open(s)
	if err != nil {
		return nil, errors.New("--newsroom-key: neither a newsroom public key (sandyq-newsroom1...) nor a readable file")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4<<10))
	if err != nil {
		return nil, fmt.Errorf("--newsroom-key: %w", err)
	}
	k, err := sign.ParsePublicKey(strings.TrimSpace(string(b)), sign.Newsroom)
	if err != nil {
		return nil, fmt.Errorf("--newsroom-key file: %w", err)
	}
	return k, nil
}

// readCodenameFile reads a codename; errors never repeat the file's text.
func readCodenameFile(e *env, name string) (string, error) {
	b, err := readSmallFile(e, name, codename.MaxInput)
	if err != nil {
		return "", fmt.Errorf("reading --codename-file: %w", err)
	}
	code, err := codename.Normalize(b)
	if err != nil {
		return "", errors.New("--codename-file does not hold a codename (seven words)")
	}
	return code, nil
}

// submitItems checks everything to send before anything is sent: the
// message first, then the files in order.
func submitItems(e *env, msg string, files []string) ([]submitItem, error) {
	var items []submitItem
	if msg == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxSubmitMessage+1))
		if err != nil {
			return nil, fmt.Errorf("reading the message from stdin: %w", err)
		}
		msg = string(b)
	}
	if len(msg) > maxSubmitMessage {
		return nil, errors.New("the message is over 1 MiB: send long text as a file (nothing was sent)")
	}
	if strings.TrimSpace(msg) != "" {
		items = append(items, submitItem{kind: envelope.Message, text: []byte(msg)})
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w (nothing was sent)", err)
		}
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w (nothing was sent)", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (nothing was sent)", p)
		}
		name := filepath.Base(p)
		if len(name) > envelope.MaxFilename {
			name = name[:envelope.MaxFilename]
		}
		items = append(items, submitItem{kind: envelope.File, path: p, filename: name, mediaType: mediaTypeOf(name)})
	}
	if len(items) == 0 {
		return nil, errors.New("nothing to send: the message is empty and there are no files")
	}
	return items, nil
}

// mediaTypeOf guesses a file's media type from its extension, as the
// envelope accepts it (printable ASCII, at most MaxMediaType bytes).
func mediaTypeOf(name string) string {
	mt := mime.TypeByExtension(filepath.Ext(name))
	if mt == "" || len(mt) > envelope.MaxMediaType {
		return "application/octet-stream"
	}
	for i := 0; i < len(mt); i++ {
		if mt[i] < 0x20 || mt[i] > 0x7e {
			return "application/octet-stream"
		}
	}
	return mt
}

// containsCodename reports whether text holds the codename's words in a
// row, in any case, separated by anything that is not a letter or a
// hyphen (as the web form checks).
func containsCodename(text []byte, code string) bool {
	want := strings.Fields(code)
	var words []string
	start := -1
	for i := 0; i <= len(text); i++ {
		isLetter := i < len(text) && (text[i]|0x20 >= 'a' && text[i]|0x20 <= 'z' || text[i] == '-')
		switch {
		case isLetter && start < 0:
			start = i
		case !isLetter && start >= 0:
			words = append(words, strings.ToLower(string(text[start:i])))
			start = -1
			if n := len(words); n >= len(want) && equalWords(words[n-len(want):], want) {
				return true
			}
		}
	}
	return false
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ageHeaderLen measures the age header for these recipients. age's header
// length depends only on the recipients' types (each stanza has a fixed
// size; this age adds no grease stanzas), and its payload length only on
// the plaintext's, so the exact size of every age file is known before it
// is encrypted: the server wants it in advance. One empty encryption
// measures the header; send checks every file's size as it streams it.
func ageHeaderLen(recips []age.Recipient) (int64, error) {
	var n countWriter
	w, err := age.Encrypt(&n, recips...)
	if err != nil {
		return 0, fmt.Errorf("encrypting to the recipient set: %w", err)
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return int64(n) - ageOverhead(0), nil
}

// ageOverhead is what age's payload adds to n bytes of plaintext: a
// 16-byte nonce, and a 16-byte tag per 64 KiB chunk (one chunk at least;
// a full last chunk is not followed by an empty one).
func ageOverhead(n int64) int64 {
	const chunk = 64 << 10
	chunks := max(1, (n+chunk-1)/chunk)
	return 16 + 16*chunks
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// sourceAPI calls the source API (docs/format.md, "Source API").
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

func (e *apiErr) Error() string { return fmt.Sprintf("the server answered %d: %s", e.status, e.msg) }

// maxAnswer caps the server's answers, the recipient set excepted.
const maxAnswer = 64 << 10

// do sends a request and returns the body of a 2xx answer (at most limit
// bytes) or an *apiErr.
func (c *sourceAPI) do(ctx context.Context, method, path string, body io.Reader, length, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return nil, &apiErr{status: resp.StatusCode, msg: printableOnly(e.Error)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the server's answer: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the server's answer is over %d bytes", limit)
	}
	return b, nil
}

// doJSON is do for a JSON answer.
func (c *sourceAPI) doJSON(ctx context.Context, method, path string, body io.Reader, length int64, out any) error {
	b, err := c.do(ctx, method, path, body, length, maxAnswer)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return errors.New("malformed answer from the server")
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
	// recipients.Parse refuses a statement over MaxSize.
	return c.do(ctx, http.MethodGet, "/recipients", nil, 0, recipients.MaxSize+1)
}

// login starts a session and returns the source ID.
func (c *sourceAPI) login(ctx context.Context, code string, create bool) ([32]byte, error) {
	body, err := json.Marshal(map[string]any{"codename": code, "create": create})
	if err != nil {
		return [32]byte{}, err
	}
	defer clear(body)
	var res struct {
		Token  string `json:"token"`
		Source string `json:"source"`
	}
	if err := c.doJSON(ctx, http.MethodPost, "/session", bytes.NewReader(body), int64(len(body)), &res); err != nil {
		return [32]byte{}, err
	}
	tok, err := hex.DecodeString(res.Token)
	if err != nil || len(tok) != 32 || strings.ToLower(res.Token) != res.Token {
		return [32]byte{}, errors.New("malformed session token from the server")
	}
	src, err := hex.DecodeString(res.Source)
	if err != nil || len(src) != 32 {
		return [32]byte{}, errors.New("malformed source ID from the server")
	}
	c.token = res.Token
	return [32]byte(src), nil
}

// logout ends the session; the server aborts anything left reserved.
func (c *sourceAPI) logout(ctx context.Context) {
	if c.token != "" {
		c.do(ctx, http.MethodDelete, "/session", nil, 0, maxAnswer)
		c.token = ""
	}
}

// errUploadEnded stops the encryption when the upload stopped reading.
var errUploadEnded = errors.New("the upload ended")

// send reserves an item, then encrypts its envelope here and streams it
// to the server through a pipe: memory stays constant whatever the size.
func (c *sourceAPI) send(ctx context.Context, e *env, it submitItem, setID [16]byte, srcID [32]byte,
	recips []age.Recipient, headerLen int64, n, total int) error {
	content := io.Reader(bytes.NewReader(it.text))
	contentLen := int64(len(it.text))
	if it.path != "" {
		f, err := os.Open(it.path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		content, contentLen = f, fi.Size()
	}
	h := &envelope.Header{SourceID: srcID, Kind: it.kind, Filename: it.filename, MediaType: it.mediaType}
	plain := envelope.PaddedSize(h, contentLen)
	size := headerLen + plain + ageOverhead(plain)

	kind := "message"
	if it.kind == envelope.File {
		kind = "file"
	}
	body, err := json.Marshal(map[string]any{"kind": kind, "set": hex.EncodeToString(setID[:]), "size": size})
	if err != nil {
		return err
	}
	var res struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	if err := c.doJSON(ctx, http.MethodPost, "/items", bytes.NewReader(body), int64(len(body)), &res); err != nil {
		return err
	}
	id, err := hex.DecodeString(res.ID)
	if err != nil || len(id) != 16 || strings.ToLower(res.ID) != res.ID {
		return errors.New("malformed item ID from the server")
	}
	h.ItemID, h.Sequence = [16]byte(id), res.Seq

	pr, pw := io.Pipe()
	sealed := make(chan error, 1)
	go func() {
		err := seal(pw, h, recips, content, contentLen, size)
		pw.CloseWithError(err) // nil: the upload reads io.EOF
		sealed <- err
	}()
	bar := newProgress(e, fmt.Sprintf("sending %d/%d", n, total), size)
	var done struct {
		ID string `json:"id"`
	}
	err = c.doJSON(ctx, http.MethodPut, "/items/"+res.ID, io.TeeReader(pr, bar), size, &done)
	bar.finish()
	pr.CloseWithError(errUploadEnded)
	if serr := <-sealed; serr != nil && !errors.Is(serr, errUploadEnded) {
		return serr // the cause of the failed upload
	}
	if err == nil && done.ID != res.ID {
		return errors.New("the server acknowledged another item")
	}
	return err
}

// seal writes the age file of one envelope to w and checks that it has
// exactly the size announced.
func seal(w io.Writer, h *envelope.Header, recips []age.Recipient, content io.Reader, contentLen, size int64) error {
	var n countWriter
	sw, err := envelope.Seal(io.MultiWriter(w, &n), h, recips...)
	if err != nil {
		return err
	}
	copied, err := io.Copy(sw, io.LimitReader(content, contentLen))
	if err != nil {
		return err
	}
	var one [1]byte
	if extra, _ := content.Read(one[:]); copied != contentLen || extra != 0 {
		return errors.New("a file changed size while it was sent: send it again when nothing writes to it")
	}
	if err := sw.Close(); err != nil {
		return err
	}
	if int64(n) != size {
		return fmt.Errorf("the encrypted item has %d bytes, not the %d announced", n, size)
	}
	return nil
}

// explainSubmitError adds what a source can do about an error.
func explainSubmitError(e *env, err error) error {
	var ae *apiErr
	if errors.As(err, &ae) {
		switch ae.status {
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			hintf(e, "the drop is busy or closed right now; try again later")
		case http.StatusConflict:
			hintf(e, "the newsroom changed its keys meanwhile: run the command again")
		case http.StatusRequestEntityTooLarge:
			hintf(e, "the drop does not accept items this large")
		}
		return err
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return explainNetError(e, err) // from the HTTP client
	}
	return err
}
