package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"filippo.io/age"

	"sandyq/crypto/envelope"
	"sandyq/server/store"
)

// A submission is one multipart/form-data POST: the CSRF token (first
// part, checked before anything else is read), at most one message, and any
// number of files up to Limits.MaxParts. It is read part by part from
// Request.MultipartReader and every part goes straight into an envelope
// (envelope.Seal) and a store upload (store.ItemWriter): no part is ever
// parsed with ParseMultipartForm, FormFile or FormValue, which would spill
// large parts to plaintext temporary files. The message alone is held in
// memory (at most Limits.MaxMessage bytes) until it has been checked for
// the source's own codename. All items of a submission are committed
// together (store.Commit) — all or nothing — and the receipt is shown only
// after that commit returned, that is, after the data reached the disk.
// On any failure every upload is aborted and nothing becomes visible.

// Form field names of the submission form.
const (
	fieldMessage = "message"
	fieldFile    = "file"
)

// multipartSlack is what the multipart reader may pull from the body
// beyond the part header itself while looking for it: its read-ahead
// buffer (4 KiB) and the boundary line.
const multipartSlack = 2*4096 + 128

// submit handles POST /{lang}/submit.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request, lang string) {
	start := time.Now()
	sess := h.sessions.lookup(r)
	if sess == nil || sess.src == nil {
		// No session (logged out, expired, or a cross-site request): the
		// CSRF check cannot pass, and nothing is read.
		h.fail(w, lang, errForbidden)
		return
	}
	if !h.uploads.tryAcquire() {
		h.fail(w, lang, errBusy)
		return
	}
	defer h.uploads.release()
	h.sessions.acquire(sess)
	defer h.sessions.release(sess)

	set, closed := h.formState()
	if closed != "" {
		p := h.submitData(lang, sess)
		p.Closed = closed
		h.render(w, http.StatusServiceUnavailable, "submit", p)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		h.fail(w, lang, errBadRequest)
		return
	}
	if r.ContentLength > h.lim.MaxSubmission {
		h.fail(w, lang, errTooLarge)
		return
	}

	// From here on the body is read: give the upload its own deadlines.
	rc := http.NewResponseController(w)
	deadline := start.Add(h.lim.UploadTimeout)
	rc.SetWriteDeadline(deadline.Add(h.lim.RequestTimeout))
	body := &uploadBody{
		r:        http.MaxBytesReader(w, r.Body, h.lim.MaxSubmission),
		rc:       rc,
		deadline: deadline,
		idle:     h.lim.BodyIdleTimeout,
		budget:   -1,
	}
	r.Body = body
	mr, err := r.MultipartReader()
	if err != nil {
		h.fail(w, lang, errBadRequest)
		return
	}
	u := &upload{h: h, sess: sess, set: set, body: body, buf: make([]byte, 32<<10)}
	defer u.abort()
	err = u.read(mr)
	if err == nil && len(u.writers) == 0 {
		err = errEmpty
	}
	if err == nil {
		_, err = h.cfg.Store.Commit(u.writers...)
		if err != nil {
			err = fmt.Errorf("%w: commit: %w", errStore, err)
		}
	}
	if err != nil {
		u.failed(w, lang, err)
		return
	}
	u.writers = nil // committed: nothing to abort
	h.sessions.setReceipt(sess, &receipt{messages: u.messages, files: u.files})
	redirect(w, "/"+lang+"/receipt")
}

// currentSet is the recipient set a submission is encrypted to.
type currentSet struct {
	id         [16]byte
	recipients []age.Recipient
}

// formState reports whether submissions are open: it returns the current
// recipient set, or the catalogue key of the reason they are closed.
func (h *Handler) formState() (*currentSet, string) {
	signed, recips, err := h.cfg.RecipientSet()
	switch {
	case errors.Is(err, ErrNoRecipientSet) || (err == nil && signed == nil):
		return nil, "closed.noset"
	case err != nil:
		h.log.Error("web: reading the recipient set failed", "err", err)
		return nil, "closed.noset"
	case len(recips) == 0 || !signed.ValidAt(h.cfg.Now()):
		h.log.Error("web: the installed recipient set is empty or outside its validity window")
		return nil, "closed.noset"
	}
	if h.cfg.DiskFree != nil {
		free, err := h.cfg.DiskFree()
		if err != nil {
			h.log.Error("web: checking free disk space failed", "err", err)
			return nil, "closed.disk"
		}
		if free < h.lim.MinFreeDisk {
			h.log.Warn("web: free disk space is below the floor; submissions are closed")
			return nil, "closed.disk"
		}
	}
	return &currentSet{id: signed.ID, recipients: recips}, ""
}

// upload is one submission in progress.
type upload struct {
	h    *Handler
	sess *session
	set  *currentSet
	body *uploadBody
	buf  []byte

	writers         []*store.ItemWriter // uncommitted uploads, aborted on failure
	messages, files int
	sawMessage      bool
	message         []byte // set only when the message holds the codename
}

// read consumes the multipart body part by part.
func (u *upload) read(mr *multipart.Reader) error {
	for n := 0; ; n++ {
		u.body.limit(int64(u.h.lim.MaxHeaderBytes) + multipartSlack)
		p, err := mr.NextPart()
		u.body.unlimit()
		if err == io.EOF {
			if n == 0 {
				return errForbidden // not even a CSRF token
			}
			return u.end()
		}
		if err != nil {
			return u.body.cause(errBadRequest)
		}
		if n >= u.h.lim.MaxParts {
			return errTooManyParts
		}
		name, filename, isFile, err := partName(p)
		if err != nil {
			return err
		}
		switch {
		case n == 0:
			// The token comes first (browsers send fields in document
			// order), so nothing is stored for a forged request.
			if name != csrfField || isFile {
				return errForbidden
			}
			tok, err := io.ReadAll(io.LimitReader(p, 128))
			if err != nil {
				return u.body.cause(errBadRequest)
			}
			if !validCSRF(u.sess, string(tok)) || !u.h.sessions.alive(u.sess) {
				return errForbidden
			}
		case name == fieldMessage && !isFile:
			if u.sawMessage {
				return errBadRequest
			}
			u.sawMessage = true
			err = u.readMessage(p)
		case name == fieldFile && isFile:
			err = u.readFile(p, filename, p.Header.Get("Content-Type"))
		default:
			// Unknown or duplicate fields, a file in a text field, text in
			// a file field.
			return errBadRequest
		}
		if err != nil {
			return err
		}
	}
}

// maxEpilogue caps what may follow the closing boundary.
const maxEpilogue = 4 << 10

// end reads what follows the closing boundary: the body must end there
// (give or take a short epilogue), and end cleanly. A body cut short —
// fewer bytes than its Content-Length promised, say — stores nothing.
func (u *upload) end() error {
	n, err := io.Copy(io.Discard, io.LimitReader(u.body, maxEpilogue+1))
	if err != nil || n > maxEpilogue {
		return u.body.cause(errBadRequest)
	}
	return nil
}

// partName returns a part's form field name and, for a file, its file
// name exactly as sent (not passed through filepath.Base as
// Part.FileName does: it is only ever stored inside the ciphertext).
func partName(p *multipart.Part) (name, filename string, isFile bool, err error) {
	disp, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil || disp != "form-data" {
		return "", "", false, errBadRequest
	}
	filename, isFile = params["filename"]
	return params["name"], filename, isFile, nil
}

// readMessage reads the message into memory, watching for the codename,
// and stores it if it is not blank.
func (u *upload) readMessage(p *multipart.Part) error {
	scan := newCodenameScanner(u.sess.src)
	// The buffer grows by hand so that no outgrown copy of the text is
	// left behind uncleared.
	msg := make([]byte, 0, min(u.h.lim.MaxMessage, 64<<10))
	defer func() { clear(msg[:cap(msg)]) }()
	for {
		n, err := p.Read(u.buf)
		if len(msg)+n > u.h.lim.MaxMessage {
			return errMessageLarge
		}
		scan.Write(u.buf[:n])
		if len(msg)+n > cap(msg) {
			grown := make([]byte, len(msg), min(max(2*cap(msg), len(msg)+n), u.h.lim.MaxMessage))
			copy(grown, msg)
			clear(msg[:cap(msg)])
			msg = grown
		}
		msg = append(msg, u.buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.body.cause(errBadRequest)
		}
	}
	clear(u.buf)
	if scan.Found() {
		u.message = append([]byte(nil), msg...)
		return errCodename
	}
	if strings.TrimSpace(string(msg)) == "" {
		return nil
	}
	seal, err := u.newItem(store.KindMessage, envelope.Message, "", "")
	if err != nil {
		return err
	}
	if _, err := seal.Write(msg); err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	if err := seal.Close(); err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	u.messages++
	return nil
}

// readFile streams a file part into a new item. An empty part without a
// file name is what a browser sends for a file input left empty: it is
// skipped.
func (u *upload) readFile(p *multipart.Part, filename, mediaType string) error {
	n, rerr := io.ReadAtLeast(p, u.buf, 1)
	if rerr == io.EOF && filename == "" {
		return nil
	}
	seal, err := u.newItem(store.KindFile, envelope.File, truncate(filename, envelope.MaxFilename), mediaTypeOf(mediaType))
	if err != nil {
		return err
	}
	for {
		if n > 0 {
			if _, err := seal.Write(u.buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", errStore, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return u.body.cause(errBadRequest)
		}
		n, rerr = p.Read(u.buf)
	}
	if err := seal.Close(); err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	u.files++
	return nil
}

// newItem starts a store upload and an envelope around it.
func (u *upload) newItem(kind store.Kind, ekind envelope.Kind, filename, mediaType string) (io.WriteCloser, error) {
	src := u.sess.src.id
	w, err := u.h.cfg.Store.NewItem(src, kind, u.set.id)
	if err != nil {
		return nil, fmt.Errorf("%w: new item: %w", errStore, err)
	}
	u.writers = append(u.writers, w)
	hdr := &envelope.Header{
		ItemID:    w.ID(),
		SourceID:  src,
		Kind:      ekind,
		Sequence:  w.Sequence(),
		Filename:  filename,
		MediaType: mediaType,
	}
	seal, err := envelope.Seal(w, hdr, u.set.recipients...)
	if err != nil {
		return nil, fmt.Errorf("%w: seal: %w", errStore, err)
	}
	return seal, nil
}

// abort abandons every uncommitted upload.
func (u *upload) abort() {
	for _, w := range u.writers {
		if err := w.Abort(); err != nil {
			u.h.log.Error("web: aborting an upload failed", "err", err)
		}
	}
	u.writers = nil
	clear(u.buf)
}

// failed answers a submission that stored nothing.
func (u *upload) failed(w http.ResponseWriter, lang string, err error) {
	h := u.h
	problem, status := "", 0
	switch {
	case errors.Is(err, errCodename):
		problem, status = "submit.codename", http.StatusBadRequest
	case errors.Is(err, errMessageLarge):
		problem, status = "submit.messagetoolong", http.StatusRequestEntityTooLarge
	case errors.Is(err, errEmpty):
		problem, status = "submit.empty", http.StatusBadRequest
	case errors.Is(err, errStore):
		h.log.Error("web: a submission could not be stored", "err", err)
		problem, status = "submit.failed", http.StatusInternalServerError
	default:
		h.fail(w, lang, err)
		return
	}
	if status != http.StatusInternalServerError {
		// The source did nothing hostile: read the rest of the body (it is
		// capped) so that the browser, still sending files, sees this page
		// instead of a reset connection. Nothing of it is kept.
		u.abort()
		u.body.unlimit()
		io.Copy(io.Discard, u.body)
	}
	p := h.submitData(lang, u.sess)
	p.Problem = problem
	if u.message != nil {
		// The source's own text, back to the source, so that it is not lost.
		p.Message = string(u.message)
		clear(u.message)
	}
	h.render(w, status, "submit", p)
}

// mediaTypeOf returns what the envelope keeps of a part's Content-Type:
// the value cut to envelope.MaxMediaType bytes, or nothing if it is not
// printable ASCII (the envelope accepts nothing else).
func mediaTypeOf(ct string) string {
	ct = truncate(ct, envelope.MaxMediaType)
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return ""
		}
	}
	return ct
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// uploadBody wraps a submission's body. It enforces the body's deadlines
// (an idle timeout that each read extends, within the total upload time),
// caps the bytes the multipart reader may pull while it reads a part header
// (which it would otherwise let grow to 10 MiB), and remembers why reading
// failed.
type uploadBody struct {
	r        io.ReadCloser
	rc       *http.ResponseController
	deadline time.Time
	idle     time.Duration
	extended time.Time

	budget         int64 // bytes left while reading a part header; -1: no cap
	headerTooLarge bool
	tooLarge       bool
}

func (b *uploadBody) limit(n int64) { b.budget = n }
func (b *uploadBody) unlimit()      { b.budget = -1 }

func (b *uploadBody) Read(p []byte) (int, error) {
	if b.budget == 0 {
		b.headerTooLarge = true
		return 0, errPartHeader
	}
	if b.budget > 0 && int64(len(p)) > b.budget {
		p = p[:b.budget]
	}
	if now := time.Now(); now.Sub(b.extended) > time.Second {
		d := now.Add(b.idle)
		if d.After(b.deadline) {
			d = b.deadline
		}
		b.rc.SetReadDeadline(d)
		b.extended = now
	}
	n, err := b.r.Read(p)
	if b.budget > 0 {
		b.budget -= int64(n)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		b.tooLarge = true
	}
	return n, err
}

func (b *uploadBody) Close() error { return b.r.Close() }

// cause turns a read failure into the error the client is answered with.
func (b *uploadBody) cause(def error) error {
	switch {
	case b.tooLarge:
		return errTooLarge
	case b.headerTooLarge:
		return errPartHeader
	}
	return def
}
