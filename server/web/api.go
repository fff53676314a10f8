package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"sandyq/crypto/codename"
	"sandyq/server/store"
)

// The source API (docs/format.md, "Source API") lets "sandyq submit"
// encrypt on the source's own machine: the server hands out the signed
// recipient set, logs the source in with the codename (the same key
// derivation as the form), reserves an item ID and sequence number, and
// stores the age file it is then sent as is. It lives under /api/v1/ on
// the same onion, with the same header set, limits and throttles as the
// pages; sessions are bearer tokens kept in memory, never cookies.

// API limits.
const (
	apiMaxJSON          = 1 << 10 // request bodies of the small calls
	apiMaxReservations  = 16      // open reservations per API session
	apiReservationLife  = 10 * time.Minute
	apiTokenSize        = 32
	contentTypeJSON     = "application/json"
	ageHeaderLine       = "age-encryption.org/v1\n"
	apiMaxSessionsTotal = 1000
)

// apiSession is a logged-in API client.
type apiSession struct {
	key      [32]byte // SHA-256 of the token
	src      *sourceSession
	lastSeen time.Time                        // apiSessions.mu
	res      map[store.ItemID]*apiReservation // apiSessions.mu
}

// apiReservation is an item reserved in the store and not yet uploaded.
// It holds one upload slot until it is committed or aborted.
type apiReservation struct {
	w     *store.ItemWriter
	size  int64
	timer *time.Timer
	busy  bool // an upload is streaming into it
}

// apiSessions holds the API sessions. Every reservation is aborted when it
// expires, fails, or its session ends. Reservations hold a slot of their
// own (at most MaxConcurrentUploads waiting at once, whoever holds them);
// an upload streaming into one also takes an upload slot, shared with the
// form, only while it streams.
type apiSessions struct {
	mu       sync.Mutex
	byKey    map[[32]byte]*apiSession
	reserved semaphore
}

// api routes a request below /api/v1/.
func (h *Handler) api(w http.ResponseWriter, r *http.Request, rest string) {
	setFixedHeaders(w.Header(), contentTypeJSON)
	switch {
	case rest == "recipients":
		if h.apiMethod(w, r, http.MethodGet) {
			h.apiRecipients(w)
		}
	case rest == "session" && r.Method == http.MethodPost:
		h.apiLogin(w, r)
	case rest == "session" && r.Method == http.MethodDelete:
		h.apiLogout(w, r)
	case rest == "session":
		apiError(w, http.StatusMethodNotAllowed, "use POST or DELETE")
	case rest == "items":
		if h.apiMethod(w, r, http.MethodPost) {
			h.apiReserve(w, r)
		}
	case strings.HasPrefix(rest, "items/"):
		id, ok := parseItemID(strings.TrimPrefix(rest, "items/"))
		if !ok {
			apiError(w, http.StatusNotFound, "no such endpoint")
			return
		}
		if h.apiMethod(w, r, http.MethodPut) {
			h.apiUpload(w, r, id)
		}
	default:
		apiError(w, http.StatusNotFound, "no such endpoint")
	}
}

func (h *Handler) apiMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	apiError(w, http.StatusMethodNotAllowed, "use "+method)
	return false
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	b = append(b, '\n')
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	apiJSON(w, status, map[string]string{"error": msg})
}

// apiFail maps the pages' errors to API answers.
func apiFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBusy):
		apiError(w, http.StatusServiceUnavailable, "server busy, try again later")
	case errors.Is(err, errTooLarge):
		apiError(w, http.StatusRequestEntityTooLarge, "too large")
	default:
		apiError(w, http.StatusBadRequest, "malformed request")
	}
}

// readJSON decodes a small JSON body strictly.
func readJSON(r *http.Request, v any) error {
	if r.ContentLength > apiMaxJSON {
		return errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, apiMaxJSON+1))
	if err != nil || len(b) > apiMaxJSON {
		return errTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errBadRequest
	}
	if dec.More() {
		return errBadRequest
	}
	return nil
}

// apiRecipients answers GET /api/v1/recipients with the signed set in
// force, byte for byte.
func (h *Handler) apiRecipients(w http.ResponseWriter) {
	signed, _, err := h.cfg.RecipientSet()
	if set, closed := h.formState(); closed != "" || err != nil || set == nil {
		apiError(w, http.StatusServiceUnavailable, "submissions are closed")
		return
	}
	setFixedHeaders(w.Header(), "text/plain; charset=utf-8")
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(signed.Raw))}
	w.WriteHeader(http.StatusOK)
	w.Write(signed.Raw)
}

// apiLogin answers POST /api/v1/session.
func (h *Handler) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Codename *string `json:"codename"`
		Create   *bool   `json:"create"`
	}
	if err := readJSON(r, &req); err != nil || req.Codename == nil || req.Create == nil {
		apiError(w, http.StatusBadRequest, "want {\"codename\":…,\"create\":true|false}")
		return
	}
	if len(*req.Codename) > codename.MaxInput {
		apiError(w, http.StatusBadRequest, "malformed codename")
		return
	}
	throttle := h.logins
	if *req.Create {
		throttle = h.newCodenames
	}
	if !throttle.take() {
		apiFail(w, errBusy)
		return
	}
	name, err := codename.Normalize(*req.Codename)
	if err != nil {
		apiError(w, http.StatusBadRequest, "malformed codename")
		return
	}
	src, err := h.deriveSource(r.Context(), name)
	if err != nil {
		if errors.Is(err, errBusy) {
			apiFail(w, errBusy)
			return
		}
		h.log.Error("web: api: key derivation failed", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error")
		return
	}
	status := http.StatusOK
	if *req.Create {
		err := h.cfg.Store.CreateSource(src.id, src.recipient)
		if errors.Is(err, store.ErrExists) {
			apiError(w, http.StatusConflict, "this codename is already in use: log in with create false")
			return
		}
		if err != nil {
			h.log.Error("web: api: creating a source failed", "err", err)
			apiError(w, http.StatusInternalServerError, "internal error")
			return
		}
		status = http.StatusCreated
	} else if _, err := h.cfg.Store.Source(src.id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			apiError(w, http.StatusNotFound, "no such codename")
			return
		}
		h.log.Error("web: api: looking up a source failed", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error")
		return
	}
	tb := make([]byte, apiTokenSize)
	if _, err := io.ReadFull(h.cfg.Rand, tb); err != nil {
		apiError(w, http.StatusInternalServerError, "internal error")
		return
	}
	raw := hex.EncodeToString(tb)
	sess := &apiSession{key: sha256.Sum256([]byte(raw)), src: src, lastSeen: h.cfg.Now(), res: map[store.ItemID]*apiReservation{}}
	h.apiSess.mu.Lock()
	h.expireAPISessionsLocked()
	if len(h.apiSess.byKey) >= apiMaxSessionsTotal {
		h.apiSess.mu.Unlock()
		apiFail(w, errBusy)
		return
	}
	h.apiSess.byKey[sess.key] = sess
	h.apiSess.mu.Unlock()
	apiJSON(w, status, map[string]string{"token": raw, "source": hex.EncodeToString(src.id[:])})
}

// apiAuth returns the session of r's bearer token, or nil.
func (h *Handler) apiAuth(r *http.Request) *apiSession {
	v := r.Header.Values("Authorization")
	if len(v) != 1 {
		return nil
	}
	tok, ok := strings.CutPrefix(v[0], "Bearer ")
	if !ok || len(tok) != 2*apiTokenSize {
		return nil
	}
	key := sha256.Sum256([]byte(tok))
	h.apiSess.mu.Lock()
	defer h.apiSess.mu.Unlock()
	h.expireAPISessionsLocked()
	s, ok := h.apiSess.byKey[key]
	if !ok || subtle.ConstantTimeCompare(s.key[:], key[:]) != 1 {
		return nil
	}
	s.lastSeen = h.cfg.Now()
	return s
}

// expireAPISessionsLocked ends idle sessions, aborting their reservations.
func (h *Handler) expireAPISessionsLocked() {
	now := h.cfg.Now()
	for k, s := range h.apiSess.byKey {
		if now.Sub(s.lastSeen) > h.lim.SessionIdle && !s.uploading() {
			h.endAPISessionLocked(s)
			delete(h.apiSess.byKey, k)
		}
	}
}

func (s *apiSession) uploading() bool {
	for _, r := range s.res {
		if r.busy {
			return true
		}
	}
	return false
}

// endAPISessionLocked aborts every reservation of s not being uploaded.
func (h *Handler) endAPISessionLocked(s *apiSession) {
	for id, r := range s.res {
		if !r.busy {
			h.dropReservationLocked(s, id, r)
		}
	}
}

// dropReservationLocked aborts a reservation and frees its upload slot.
func (h *Handler) dropReservationLocked(s *apiSession, id store.ItemID, r *apiReservation) {
	r.timer.Stop()
	r.w.Abort()
	delete(s.res, id)
	h.apiSess.reserved.release()
}

// apiLogout answers DELETE /api/v1/session.
func (h *Handler) apiLogout(w http.ResponseWriter, r *http.Request) {
	s := h.apiAuth(r)
	if s == nil {
		apiError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	h.apiSess.mu.Lock()
	h.endAPISessionLocked(s)
	delete(h.apiSess.byKey, s.key)
	h.apiSess.mu.Unlock()
	w.Header()["Content-Length"] = nil
	delete(w.Header(), "Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

// apiReserve answers POST /api/v1/items.
func (h *Handler) apiReserve(w http.ResponseWriter, r *http.Request) {
	s := h.apiAuth(r)
	if s == nil {
		apiError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	var req struct {
		Kind *string `json:"kind"`
		Set  *string `json:"set"`
		Size *int64  `json:"size"`
	}
	if err := readJSON(r, &req); err != nil || req.Kind == nil || req.Set == nil || req.Size == nil {
		apiError(w, http.StatusBadRequest, "want {\"kind\":…,\"set\":…,\"size\":…}")
		return
	}
	var kind store.Kind
	switch *req.Kind {
	case "message":
		kind = store.KindMessage
	case "file":
		kind = store.KindFile
	default:
		apiError(w, http.StatusBadRequest, "kind is message or file")
		return
	}
	setID, ok := parseItemID(*req.Set)
	if !ok {
		apiError(w, http.StatusBadRequest, "set is 32 hex digits")
		return
	}
	if *req.Size < int64(len(ageHeaderLine)) || *req.Size > h.lim.MaxSubmission {
		apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("size must be at most %d bytes", h.lim.MaxSubmission))
		return
	}
	set, closed := h.formState()
	if closed != "" {
		apiError(w, http.StatusServiceUnavailable, "submissions are closed")
		return
	}
	if set.id != setID {
		apiError(w, http.StatusConflict, "another recipient set is in force: fetch it again")
		return
	}
	h.apiSess.mu.Lock()
	defer h.apiSess.mu.Unlock()
	if len(s.res) >= apiMaxReservations {
		apiError(w, http.StatusTooManyRequests, "too many items reserved: upload or log out first")
		return
	}
	if !h.apiSess.reserved.tryAcquire() {
		apiFail(w, errBusy)
		return
	}
	iw, err := h.cfg.Store.NewItem(s.src.id, kind, setID)
	if err != nil {
		h.apiSess.reserved.release()
		h.log.Error("web: api: reserving an item failed", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error")
		return
	}
	id := iw.ID()
	res := &apiReservation{w: iw, size: *req.Size}
	res.timer = time.AfterFunc(h.apiResLife, func() {
		h.apiSess.mu.Lock()
		defer h.apiSess.mu.Unlock()
		if cur := s.res[id]; cur == res && !res.busy {
			h.dropReservationLocked(s, id, res)
		}
	})
	s.res[id] = res
	apiJSON(w, http.StatusCreated, map[string]any{"id": hex.EncodeToString(id[:]), "seq": iw.Sequence()})
}

// apiUpload answers PUT /api/v1/items/<id>: the age file, streamed into
// the reservation and committed.
func (h *Handler) apiUpload(w http.ResponseWriter, r *http.Request, id store.ItemID) {
	start := time.Now()
	s := h.apiAuth(r)
	if s == nil {
		apiError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	h.apiSess.mu.Lock()
	res := s.res[id]
	if res == nil || res.busy {
		h.apiSess.mu.Unlock()
		apiError(w, http.StatusNotFound, "no such reservation")
		return
	}
	if !h.uploads.tryAcquire() {
		h.apiSess.mu.Unlock()
		apiFail(w, errBusy) // the reservation stays: try again
		return
	}
	defer h.uploads.release()
	res.busy = true
	res.timer.Stop()
	h.apiSess.mu.Unlock()
	committed := false
	defer func() {
		h.apiSess.mu.Lock()
		defer h.apiSess.mu.Unlock()
		res.busy = false
		if committed {
			delete(s.res, id)
			h.apiSess.reserved.release()
		} else if s.res[id] == res {
			h.dropReservationLocked(s, id, res)
		}
	}()
	if r.ContentLength != res.size || len(r.TransferEncoding) > 0 {
		apiError(w, http.StatusBadRequest, "Content-Length must be the reserved size")
		return
	}
	rc := http.NewResponseController(w)
	deadline := start.Add(h.lim.UploadTimeout)
	rc.SetWriteDeadline(deadline.Add(h.lim.RequestTimeout))
	body := &uploadBody{r: http.MaxBytesReader(w, r.Body, res.size), rc: rc, deadline: deadline,
		idle: h.lim.BodyIdleTimeout, budget: -1}
	head := make([]byte, len(ageHeaderLine))
	if _, err := io.ReadFull(body, head); err != nil || string(head) != ageHeaderLine {
		apiError(w, http.StatusBadRequest, "the body is not an age file")
		return
	}
	if _, err := res.w.Write(head); err != nil {
		h.apiStoreFailed(w, err)
		return
	}
	buf := make([]byte, 32<<10)
	n, err := io.CopyBuffer(res.w, body, buf)
	if err != nil {
		if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrTooLarge) {
			h.apiStoreFailed(w, err)
			return
		}
		apiError(w, http.StatusBadRequest, "the upload was cut short")
		return
	}
	if n+int64(len(head)) != res.size {
		apiError(w, http.StatusBadRequest, "the upload was cut short")
		return
	}
	items, err := h.cfg.Store.Commit(res.w)
	if err != nil {
		h.apiStoreFailed(w, err)
		return
	}
	committed = true
	apiJSON(w, http.StatusCreated, map[string]any{"id": hex.EncodeToString(id[:]), "seq": items[0].Seq})
}

func (h *Handler) apiStoreFailed(w http.ResponseWriter, err error) {
	h.log.Error("web: api: storing an upload failed", "err", err)
	apiError(w, http.StatusInternalServerError, "storing the upload failed")
}

// parseItemID parses 32 lower-case hex digits.
func parseItemID(s string) (store.ItemID, bool) {
	var id store.ItemID
	if len(s) != 32 || strings.ToLower(s) != s {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}
