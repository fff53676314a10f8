// Package japi is the journalist API of a sandyq server: the HTTP handler
// behind the journalist onion service (and --dev-journalist-listen).
//
// Only registered journalists get past the first check: every request is
// signed with the journalist's access key (package sandyq/crypto/reqsign),
// carries the time and a nonce, and is refused when the key is not
// registered, the signature does not verify, the time is outside a window of
// ±5 minutes or earlier than this process's start, or the nonce was seen
// before. The endpoints (docs/format.md, "Journalist API"):
//
//	GET  /v1/bundle[?after=N]  a submissions bundle of items newer than N
//	                           (default: the journalist's acknowledged cursor)
//	POST /v1/ack?up_to=U       the journalist holds everything up to U
//	POST /v1/replies           a reply bundle signed by the same access key
//	POST /v1/rewrap            a rewrap bundle signed by the same access key:
//	                           new ciphertexts swapped in all or none (rewrap.go)
//
// Bundles are streamed: the server holds one chunk of one item in memory at a
// time, whatever the bundle's size. Nothing is logged about a request but
// its outcome class; no key, ID or content.
package japi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"sandyq/client/bundle"
	"sandyq/crypto/reqsign"
	"sandyq/crypto/sign"
	"sandyq/server/journalists"
	"sandyq/server/keyring"
	"sandyq/server/store"
)

// Limits and windows.
const (
	// Window is how far a request's time may be from the server's clock.
	Window = 5 * time.Minute
	// MaxNonces caps the nonces remembered at once; beyond it requests are
	// refused with 503 until old ones expire.
	MaxNonces = 100_000
	// DefaultMaxItems and DefaultMaxBytes cap one submissions bundle.
	DefaultMaxItems = 10_000
	DefaultMaxBytes = 4 << 30
	// MaxReplyBundle caps the body of POST /v1/replies.
	MaxReplyBundle = 64 << 20
	// maxConcurrent caps requests served at once (journalists are few).
	maxConcurrent = 8
)

// BundleMediaType is the Content-Type of a bundle.
const BundleMediaType = "application/vnd.sandyq.bundle"

// Config configures a Handler. Store, Registry and InstanceKey are required.
type Config struct {
	Store       *store.Store
	Registry    *journalists.Registry
	InstanceKey *sign.PrivateKey // signs submissions bundles
	Keyring     *keyring.Keyring // the verified recipient sets (rewrap targets)
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: discard
	MaxItems    int              // per bundle; 0: DefaultMaxItems
	MaxBytes    int64            // per bundle; 0: DefaultMaxBytes
}

// Handler serves the journalist API.
type Handler struct {
	cfg     Config
	started int64 // Unix seconds: requests signed earlier are refused
	log     *slog.Logger
	sem     chan struct{}

	mu     sync.Mutex
	nonces map[[reqsign.NonceSize]byte]int64 // nonce → expiry (Unix seconds)
	order  []nonceEntry                      // in insertion order, for expiry
}

type nonceEntry struct {
	nonce  [reqsign.NonceSize]byte
	expiry int64
}

// New returns a Handler. Requests signed before this moment are refused, so
// that a request captured before a restart cannot be replayed after it,
// when the nonces seen before are forgotten.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.InstanceKey == nil || cfg.Keyring == nil {
		return nil, errors.New("japi: store, registry, instance key and keyring are required")
	}
	if cfg.InstanceKey.Kind() != sign.Instance {
		return nil, errors.New("japi: bundles must be signed with an instance key")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		cfg: cfg, started: cfg.Now().Unix(), log: log,
		sem:    make(chan struct{}, maxConcurrent),
		nonces: map[[reqsign.NonceSize]byte]int64{},
	}, nil
}

// apiError is an error with its HTTP status; its message goes to the client.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

var (
	errNotAuthorised = fail(http.StatusUnauthorized, "not authorised")
	errClock         = fail(http.StatusUnauthorized, "request time is outside the accepted window: check this computer's clock")
	errReplay        = fail(http.StatusUnauthorized, "replayed request")
	errBusy          = fail(http.StatusServiceUnavailable, "server busy, try again in a minute")
)

func setHeaders(h http.Header, contentType string) {
	clear(h)
	h["Content-Type"] = []string{contentType}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	h["Referrer-Policy"] = []string{"no-referrer"}
	h["Date"] = nil
}

func writeJSON(w http.ResponseWriter, status int, v any) { writeJSONHeader(w, status, v) }

// writeJSONHeader writes v as the JSON body, with extra header pairs.
func writeJSONHeader(w http.ResponseWriter, status int, v any, kv ...string) {
	b, _ := json.Marshal(v)
	setHeaders(w.Header(), "application/json")
	for i := 0; i+1 < len(kv); i += 2 {
		w.Header()[kv[i]] = []string{kv[i+1]}
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]string{"error": e.msg})
}

// ServeHTTP routes, authenticates and serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		writeError(w, errBusy)
		return
	}
	var route func(http.ResponseWriter, *http.Request, *journalists.Journalist) *apiError
	method := http.MethodPost
	switch r.URL.Path {
	case "/v1/bundle":
		route, method = h.bundle, http.MethodGet
	case "/v1/ack":
		route = h.ack
	case "/v1/replies":
		route = h.replies
	case "/v1/rewrap":
		route = h.rewrap
	default:
		writeError(w, fail(http.StatusNotFound, "no such endpoint"))
		return
	}
	if r.Method != method {
		writeJSONHeader(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + method}, "Allow", method)
		return
	}
	j, aerr := h.authenticate(r)
	if aerr == nil {
		aerr = route(w, r, j)
	}
	if aerr != nil {
		h.log.Info("japi: request refused", "status", aerr.status)
		if aerr.status != 0 { // 0: the response has already begun
			writeError(w, aerr)
		}
	}
}

// authenticate checks the request's signature header.
func (h *Handler) authenticate(r *http.Request) (*journalists.Journalist, *apiError) {
	vals := r.Header.Values(reqsign.Header)
	if len(vals) != 1 {
		return nil, errNotAuthorised
	}
	s, err := reqsign.Parse(vals[0])
	if err != nil {
		return nil, errNotAuthorised
	}
	if len(r.TransferEncoding) > 0 || r.ContentLength < 0 {
		return nil, fail(http.StatusLengthRequired, "a Content-Length is required")
	}
	j, ok := h.cfg.Registry.Lookup(s.Key)
	if !ok {
		return nil, errNotAuthorised
	}
	if err := s.Verify(r.Method, r.RequestURI, r.ContentLength); err != nil {
		return nil, errNotAuthorised
	}
	now := h.cfg.Now().Unix()
	win := int64(Window / time.Second)
	if s.Time < now-win || s.Time > now+win || s.Time < h.started {
		return nil, errClock
	}
	if e := h.useNonce(s.Nonce, now, s.Time+win); e != nil {
		return nil, e
	}
	return j, nil
}

// useNonce records a nonce until expiry, refusing one already recorded.
// Only requests with a verified signature get here, so only registered
// journalists can fill the table.
func (h *Handler) useNonce(n [reqsign.NonceSize]byte, now, expiry int64) *apiError {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.order) > 0 && h.order[0].expiry < now {
		delete(h.nonces, h.order[0].nonce)
		h.order = h.order[1:]
	}
	if _, seen := h.nonces[n]; seen {
		return errReplay
	}
	if len(h.nonces) >= MaxNonces {
		return errBusy
	}
	h.nonces[n] = expiry
	// Entries are expired in insertion order; an entry with a later expiry
	// than a newer one just lives a little longer than needed.
	h.order = append(h.order, nonceEntry{n, max(expiry, h.lastExpiry())})
	return nil
}

func (h *Handler) lastExpiry() int64 {
	if len(h.order) == 0 {
		return 0
	}
	return h.order[len(h.order)-1].expiry
}

// query parses the request's query strictly: only the given names, each
// at most once, as decimal uint64 without sign or leading zeros.
func query(r *http.Request, names ...string) (map[string]uint64, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "malformed query")
	}
	out := map[string]uint64{}
	for k, v := range q {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return nil, fail(http.StatusBadRequest, "unknown query parameter")
		}
		if len(v) != 1 {
			return nil, fail(http.StatusBadRequest, "%s given more than once", k)
		}
		n, err := strconv.ParseUint(v[0], 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != v[0] {
			return nil, fail(http.StatusBadRequest, "%s is not a decimal cursor", k)
		}
		out[k] = n
	}
	return out, nil
}

// bundle serves GET /v1/bundle.
func (h *Handler) bundle(w http.ResponseWriter, r *http.Request, j *journalists.Journalist) *apiError {
	if r.ContentLength != 0 {
		return fail(http.StatusBadRequest, "a GET has no body")
	}
	q, e := query(r, "after")
	if e != nil {
		return e
	}
	after, ok := q["after"]
	if !ok {
		after = j.Cursor
	}
	// The newest cursor first: an item committed while we list has a larger
	// one and is left for the next bundle rather than skipped.
	last, err := h.cfg.Store.LastCursor()
	if err != nil {
		return h.internal(err)
	}
	if after >= last {
		w.Header()["Sandyq-Up-To"] = []string{strconv.FormatUint(last, 10)}
		setNoContent(w)
		return nil
	}
	items, err := h.cfg.Store.ListItems(after, h.cfg.MaxItems)
	if err != nil {
		return h.internal(err)
	}
	m := &bundle.Manifest{Type: bundle.Submissions, After: after, UpTo: last}
	var total int64
	more := false
	seen := map[store.SourceID]bool{}
	for i, it := range items {
		if it.Cursor > last {
			break
		}
		if i > 0 && total+it.Size > h.cfg.MaxBytes {
			more = true
			break
		}
		total += it.Size
		m.Items = append(m.Items, bundle.Item{ID: it.ID, Source: it.Source, Kind: bundle.Kind(it.Kind),
			Seq: it.Seq, SetID: it.SetID, Day: it.Day, Size: it.Size, SHA256: it.SHA256})
		m.UpTo = it.Cursor
		if !seen[it.Source] {
			seen[it.Source] = true
			src, err := h.cfg.Store.Source(it.Source)
			if err != nil {
				return h.internal(err)
			}
			m.Sources = append(m.Sources, bundle.Source{ID: src.ID, ReplyRecipient: src.ReplyRecipient})
		}
	}
	if len(items) == h.cfg.MaxItems && len(m.Items) == len(items) && m.UpTo < last {
		more = true // the item limit stopped the listing
	}
	if !more {
		m.UpTo = last
	}
	if len(m.Items) == 0 {
		w.Header()["Sandyq-Up-To"] = []string{strconv.FormatUint(m.UpTo, 10)}
		setNoContent(w)
		return nil
	}
	sortManifest(m)
	var head bytes.Buffer
	sw := &switchWriter{w: &head}
	bw, err := bundle.NewWriter(sw, m, h.cfg.InstanceKey)
	if err != nil {
		return h.internal(err)
	}
	setHeaders(w.Header(), BundleMediaType)
	w.Header()["Content-Length"] = []string{strconv.FormatInt(int64(head.Len())+total, 10)}
	w.Header()["Sandyq-Up-To"] = []string{strconv.FormatUint(m.UpTo, 10)}
	w.Header()["Sandyq-More"] = []string{strconv.FormatBool(more)}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head.Bytes()); err != nil {
		return &apiError{} // the client went away
	}
	sw.w = w
	for {
		e, ok := bw.Next()
		if !ok {
			break
		}
		if err := h.writeItem(r.Context(), bw, e.ID); err != nil {
			// The header is out: all we can do is cut the stream short,
			// which the client detects (size and SHA-256).
			h.log.Warn("japi: bundle cut short", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	if err := bw.Close(); err != nil {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// sortManifest puts sources and items in the order the format requires:
// by ID.
func sortManifest(m *bundle.Manifest) {
	slices.SortFunc(m.Sources, func(a, b bundle.Source) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(m.Items, func(a, b bundle.Item) int { return bytes.Compare(a.ID[:], b.ID[:]) })
}

func setNoContent(w http.ResponseWriter) {
	up := w.Header()["Sandyq-Up-To"]
	setHeaders(w.Header(), "application/json")
	delete(w.Header(), "Content-Type")
	w.Header()["Sandyq-Up-To"] = up
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) writeItem(ctx context.Context, bw *bundle.Writer, id [16]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := h.cfg.Store.OpenItem(store.ItemID(id))
	if err != nil {
		return err
	}
	defer rc.Close()
	return bw.WriteItem(rc)
}

// switchWriter writes to w, which can be switched: the bundle's header and
// manifest go to a buffer first, so that the exact Content-Length is known
// before the response starts.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// ack serves POST /v1/ack.
func (h *Handler) ack(w http.ResponseWriter, r *http.Request, j *journalists.Journalist) *apiError {
	if r.ContentLength != 0 {
		return fail(http.StatusBadRequest, "an ack has no body")
	}
	q, e := query(r, "up_to")
	if e != nil {
		return e
	}
	upTo, ok := q["up_to"]
	if !ok {
		return fail(http.StatusBadRequest, "up_to is required")
	}
	last, err := h.cfg.Store.LastCursor()
	if err != nil {
		return h.internal(err)
	}
	if upTo > last {
		return fail(http.StatusBadRequest, "up_to is beyond the newest item")
	}
	// Mark what this journalist now holds as fetched (for retention).
	for after := j.Cursor; after < upTo; {
		items, err := h.cfg.Store.ListItems(after, 1000)
		if err != nil {
			return h.internal(err)
		}
		var ids []store.ItemID
		for _, it := range items {
			if it.Cursor > upTo {
				break
			}
			ids = append(ids, it.ID)
			after = it.Cursor
		}
		if len(ids) > 0 {
			if err := h.cfg.Store.MarkFetched(ids...); err != nil && !errors.Is(err, store.ErrNotFound) {
				return h.internal(err)
			}
		}
		if len(ids) < len(items) || len(items) < 1000 {
			break
		}
	}
	if err := h.cfg.Registry.Acknowledge(j.Access, upTo, day(h.cfg.Now())); err != nil {
		if errors.Is(err, journalists.ErrNotFound) {
			return errNotAuthorised // revoked meanwhile
		}
		return h.internal(err)
	}
	setHeaders(w.Header(), "application/json")
	delete(w.Header(), "Content-Type")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func day(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

// ageHeader starts every age file.
var ageHeader = []byte("age-encryption.org/v1\n")

// replies serves POST /v1/replies.
func (h *Handler) replies(w http.ResponseWriter, r *http.Request, j *journalists.Journalist) *apiError {
	if r.ContentLength > MaxReplyBundle {
		return fail(http.StatusRequestEntityTooLarge, "a reply bundle is at most %d MiB", MaxReplyBundle>>20)
	}
	// net/http reads at most Content-Length bytes of the body.
	br, err := bundle.NewReader(r.Body, bundle.Replies, bundle.TrustKeys(j.Access),
		&bundle.ReaderOptions{MaxTotalSize: MaxReplyBundle})
	if err != nil {
		return fail(http.StatusBadRequest, "reply bundle refused: %v", err)
	}
	var batch []store.NewReply
	for {
		e, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(http.StatusBadRequest, "reply bundle refused: %v", err)
		}
		if e.Size > store.MaxReplySize {
			return fail(http.StatusRequestEntityTooLarge, "reply %d is over %d bytes", e.Index+1, store.MaxReplySize)
		}
		data, err := io.ReadAll(item)
		if err != nil {
			return fail(http.StatusBadRequest, "reply bundle refused: %v", err)
		}
		if !bytes.HasPrefix(data, ageHeader) {
			return fail(http.StatusBadRequest, "reply %d is not an age file", e.Index+1)
		}
		batch = append(batch, store.NewReply{Source: e.Source, ID: e.ID, Data: data})
	}
	already, err := h.cfg.Store.AddReplies(batch)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(http.StatusNotFound, "%v", err)
	case errors.Is(err, store.ErrExists):
		return fail(http.StatusConflict, "%v", err)
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, store.ErrInvalid):
		return fail(http.StatusBadRequest, "%v", err)
	case err != nil:
		return h.internal(err)
	}
	writeJSON(w, http.StatusOK, map[string]int{"stored": len(batch) - already, "already": already})
	return nil
}

func (h *Handler) internal(err error) *apiError {
	h.log.Error("japi: internal error", "err", err)
	return fail(http.StatusInternalServerError, "internal error")
}
