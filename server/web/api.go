package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
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
// derivation, semaphore and throttles as the form), reserves an item ID and
// sequence number, and stores the age file it is then sent as is. It lives
// under /api/v1/ on the same onion, with the same header set and limits as
// the pages; sessions are bearer tokens kept in memory, never cookies.
//
//	GET    /api/v1/recipients   the signed recipient set in force
//	POST   /api/v1/session      log in (or create) with a codename: a token
//	POST   /api/v1/items        reserve an item: its ID and sequence number
//	PUT    /api/v1/items/{id}   the age file, streamed into the store, committed
//	DELETE /api/v1/session      log out, aborting open reservations
//
// Lifetimes: a reservation not uploaded within apiReservationLife is
// aborted (by a timer), and so is every reservation of a session that logs
// out, is evicted, or when the Handler is closed; an upload that fails in
// any way aborts its reservation. Nothing of a reservation therefore
// outlives its session, and pending items never outlive the process (the
// store removes them at Close and at Open).

// API limits.
const (
	apiMaxJSON         = 1 << 10 // request bodies of the small calls
	apiMaxReservations = 16      // open reservations per API session
	apiReservationLife = 10 * time.Minute
	apiTokenSize       = 32 // random bytes; 64 hex digits on the wire
	ageHeaderLine      = "age-encryption.org/v1\n"
	contentTypeJSON    = "application/json"
	contentTypeText    = "text/plain; charset=utf-8"
)

// apiSession is a logged-in API client. Only the source ID is kept: the
// API never needs the reply identity that the key derivation also yields.
type apiSession struct {
	key      [32]byte // SHA-256 of the token (the token itself is not kept)
	src      store.SourceID
	lastSeen time.Time                        // apiSessions.mu
	res      map[store.ItemID]*apiReservation // apiSessions.mu
}

// apiReservation is an item reserved in the store and not yet committed.
// Its ItemWriter is touched only by whoever removed the reservation from
// its session's map (to abort it), or by the one upload that set busy.
type apiReservation struct {
	w     *store.ItemWriter
	size  int64
	timer *time.Timer // aborts the reservation when it expires
	busy  bool        // apiSessions.mu: an upload is streaming into it
}

// apiSessions holds the API sessions. Every open reservation holds one
// slot of reserved (Limits.MaxReservations in all); an upload streaming
// into one also holds an upload slot, shared with the form, while it
// streams.
type apiSessions struct {
	mu       sync.Mutex
	byKey    map[[32]byte]*apiSession // mu
	closed   bool                     // mu: Close was called
	reserved semaphore
}

// api routes a request below /api/v1/. Every answer has the fixed header
// set, with Content-Type application/json unless it says otherwise.
func (h *Handler) api(w http.ResponseWriter, r *http.Request, rest string) {
	setFixedHeaders(w.Header(), contentTypeJSON)
	switch {
	case rest == "recipients":
		if apiMethod(w, r, http.MethodGet) {
			h.apiRecipients(w)
		}
	case rest == "session" && r.Method == http.MethodPost:
		h.apiLogin(w, r)
	case rest == "session" && r.Method == http.MethodDelete:
		h.apiLogout(w, r)
	case rest == "session":
		apiError(w, http.StatusMethodNotAllowed, "use POST or DELETE")
	case rest == "items":
		if apiMethod(w, r, http.MethodPost) {
			h.apiReserve(w, r)
		}
	case strings.HasPrefix(rest, "items/"):
		id, ok := parseItemID(strings.TrimPrefix(rest, "items/"))
		if !ok {
			apiError(w, http.StatusNotFound, "no such endpoint")
			return
		}
		if apiMethod(w, r, http.MethodPut) {
			h.apiUpload(w, r, id)
		}
	default:
		apiError(w, http.StatusNotFound, "no such endpoint")
	}
}

func apiMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	apiError(w, http.StatusMethodNotAllowed, "use "+method)
	return false
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("web: api: " + err.Error()) // only our own maps and strings get here
	}
	b = append(b, '\n')
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// apiError answers {"error": msg}. msg is a fixed text of this file: it
// never holds anything the client sent.
func apiError(w http.ResponseWriter, status int, msg string) {
	apiJSON(w, status, map[string]string{"error": msg})
}

func apiBusy(w http.ResponseWriter) {
	apiError(w, http.StatusServiceUnavailable, "server busy, try again later")
}

// readJSON decodes a small JSON body strictly into v: Content-Type
// application/json, at most apiMaxJSON bytes, one flat object whose keys
// are exactly (case included) among fields and appear once each, with no
// nested values and nothing after it. encoding/json alone would take the
// last of duplicate keys and match keys case-insensitively.
func readJSON(w http.ResponseWriter, r *http.Request, v any, fields ...string) error {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != contentTypeJSON {
		return errBadRequest
	}
	if r.ContentLength > apiMaxJSON {
		return errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, apiMaxJSON))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errTooLarge
		}
		return errBadRequest
	}
	if err := checkFlatObject(b, fields); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errBadRequest
	}
	return nil
}

// checkFlatObject checks that b is exactly one JSON object of scalar
// values whose keys are distinct members of fields.
func checkFlatObject(b []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errBadRequest
	}
	var seen []string
	for dec.More() {
		t, err := dec.Token()
		k, ok := t.(string)
		if err != nil || !ok || !slices.Contains(fields, k) || slices.Contains(seen, k) {
			return errBadRequest
		}
		seen = append(seen, k)
		t, err = dec.Token()
		if _, nested := t.(json.Delim); err != nil || nested {
			return errBadRequest
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errBadRequest
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBadRequest
	}
	return nil
}

// apiBadJSON answers a body readJSON refused.
func apiBadJSON(w http.ResponseWriter, err error, want string) {
	if errors.Is(err, errTooLarge) {
		apiError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	apiError(w, http.StatusBadRequest, "want Content-Type application/json and "+want)
}

// apiRecipients answers GET /api/v1/recipients with the signed set in
// force, byte for byte.
func (h *Handler) apiRecipients(w http.ResponseWriter) {
	set, closed := h.formState()
	if closed != "" {
		apiError(w, http.StatusServiceUnavailable, "submissions are closed")
		return
	}
	signed, _, err := h.cfg.RecipientSet()
	if err != nil || signed == nil || signed.ID != set.id {
		// The set changed between the two calls (an epoch began): the
		// client tries again.
		apiBusy(w)
		return
	}
	setFixedHeaders(w.Header(), contentTypeText)
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(signed.Raw))}
	w.WriteHeader(http.StatusOK)
	w.Write(signed.Raw)
}

// apiLogin answers POST /api/v1/session. Like the form, it runs the full
// key derivation for every well-formed codename before it asks the store,
// so the time taken does not tell whether a source exists.
func (h *Handler) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Codename *string `json:"codename"`
		Create   *bool   `json:"create"`
	}
	const want = `{"codename":"…","create":true|false}`
	if err := readJSON(w, r, &req, "codename", "create"); err != nil {
		apiBadJSON(w, err, want)
		return
	}
	if req.Codename == nil || req.Create == nil {
		apiError(w, http.StatusBadRequest, "want "+want)
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
		apiBusy(w)
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
			apiBusy(w)
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
		h.log.Error("web: api: reading random bytes failed", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error")
		return
	}
	token := hex.EncodeToString(tb)
	sess := &apiSession{key: sha256.Sum256([]byte(token)), src: src.id, res: map[store.ItemID]*apiReservation{}}
	if !h.addAPISession(sess) {
		apiBusy(w)
		return
	}
	apiJSON(w, status, map[string]string{"token": token, "source": hex.EncodeToString(src.id[:])})
}

// addAPISession stores sess, first ending idle sessions and, when
// Limits.MaxSessions are open, the one idle the longest that is not
// uploading. It reports false when the Handler is closed or every session
// is uploading.
func (h *Handler) addAPISession(sess *apiSession) bool {
	var drop []*apiReservation
	defer func() { h.abortReservations(drop) }()
	a := &h.apiSess
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	now := h.cfg.Now()
	drop = h.expireAPISessionsLocked(now)
	for len(a.byKey) >= h.lim.MaxSessions {
		var oldest *apiSession
		for _, s := range a.byKey {
			if !s.uploading() && (oldest == nil || s.lastSeen.Before(oldest.lastSeen)) {
				oldest = s
			}
		}
		if oldest == nil {
			return false
		}
		drop = append(drop, h.endAPISessionLocked(oldest)...)
	}
	if a.byKey[sess.key] != nil {
		// 256 random bits collided: the random source is broken.
		panic("web: api: session token collision")
	}
	sess.lastSeen = now
	a.byKey[sess.key] = sess
	return true
}

// apiAuth returns the session of r's bearer token, or nil. The token is
// looked up by its SHA-256 (so the map lookup's timing says nothing about
// the token) and then compared in constant time.
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
	var drop []*apiReservation
	defer func() { h.abortReservations(drop) }()
	a := &h.apiSess
	a.mu.Lock()
	defer a.mu.Unlock()
	now := h.cfg.Now()
	drop = h.expireAPISessionsLocked(now)
	s := a.byKey[key]
	if s == nil || subtle.ConstantTimeCompare(s.key[:], key[:]) != 1 {
		return nil
	}
	s.lastSeen = now
	return s
}

// expireAPISessionsLocked ends the sessions idle for longer than
// Limits.SessionIdle that are not uploading, and returns their
// reservations, to be aborted once the lock is released.
func (h *Handler) expireAPISessionsLocked(now time.Time) []*apiReservation {
	var drop []*apiReservation
	for _, s := range h.apiSess.byKey {
		if now.Sub(s.lastSeen) > h.lim.SessionIdle && !s.uploading() {
			drop = append(drop, h.endAPISessionLocked(s)...)
		}
	}
	return drop
}

func (s *apiSession) uploading() bool {
	for _, r := range s.res {
		if r.busy {
			return true
		}
	}
	return false
}

// endAPISessionLocked removes s and returns its reservations that no
// upload is streaming into, to be aborted once the lock is released. (An
// upload in progress aborts or commits its own when it ends.)
func (h *Handler) endAPISessionLocked(s *apiSession) []*apiReservation {
	delete(h.apiSess.byKey, s.key)
	var drop []*apiReservation
	for id, r := range s.res {
		if !r.busy {
			drop = append(drop, takeReservationLocked(s, id, r))
		}
	}
	return drop
}

// takeReservationLocked removes a reservation from its session; the caller
// then owns its ItemWriter and must abort it with abortReservations.
func takeReservationLocked(s *apiSession, id store.ItemID, r *apiReservation) *apiReservation {
	r.timer.Stop()
	delete(s.res, id)
	return r
}

// abortReservations aborts reservations taken from their sessions and
// frees their slots. It runs without the lock: an abort of an upload that
// wrote chunks is a store transaction.
func (h *Handler) abortReservations(rs []*apiReservation) {
	for _, r := range rs {
		if err := r.w.Abort(); err != nil {
			h.log.Error("web: api: aborting a reservation failed", "err", err)
		}
		h.apiSess.reserved.release()
	}
}

// Close ends every API session and aborts the reservations no upload is
// streaming into; later logins and reservations are refused (503). Call it
// after http.Server.Shutdown and before closing the store. The web
// sessions need nothing: they hold no store resources.
func (h *Handler) Close() {
	var drop []*apiReservation
	a := &h.apiSess
	a.mu.Lock()
	a.closed = true
	for _, s := range a.byKey {
		drop = append(drop, h.endAPISessionLocked(s)...)
	}
	a.mu.Unlock()
	h.abortReservations(drop)
}

// apiLogout answers DELETE /api/v1/session.
func (h *Handler) apiLogout(w http.ResponseWriter, r *http.Request) {
	s := h.apiAuth(r)
	if s == nil {
		apiError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	h.apiSess.mu.Lock()
	drop := h.endAPISessionLocked(s)
	h.apiSess.mu.Unlock()
	h.abortReservations(drop)
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
	const want = `{"kind":"message"|"file","set":"<32 hex>","size":N}`
	if err := readJSON(w, r, &req, "kind", "set", "size"); err != nil {
		apiBadJSON(w, err, want)
		return
	}
	if req.Kind == nil || req.Set == nil || req.Size == nil {
		apiError(w, http.StatusBadRequest, "want "+want)
		return
	}
	var kind store.Kind
	switch *req.Kind {
	case "message":
		kind = store.KindMessage
	case "file":
		kind = store.KindFile
	default:
		apiError(w, http.StatusBadRequest, `kind is "message" or "file"`)
		return
	}
	setID, ok := parseItemID(*req.Set)
	if !ok {
		apiError(w, http.StatusBadRequest, "set is 32 lower-case hex digits")
		return
	}
	if *req.Size <= int64(len(ageHeaderLine)) {
		apiError(w, http.StatusBadRequest, "size is too small for an age file")
		return
	}
	if *req.Size > h.lim.MaxSubmission {
		apiError(w, http.StatusRequestEntityTooLarge,
			"size is over this server's limit of "+strconv.FormatInt(h.lim.MaxSubmission, 10)+" bytes")
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
	id, seq, status, msg := h.reserve(s, kind, setID, *req.Size)
	if status != http.StatusCreated {
		apiError(w, status, msg)
		return
	}
	apiJSON(w, http.StatusCreated, map[string]any{"id": hex.EncodeToString(id[:]), "seq": seq})
}

// reserve reserves an item in the store for session s, or says why not
// (a status and an error text).
func (h *Handler) reserve(s *apiSession, kind store.Kind, setID [16]byte, size int64) (store.ItemID, uint64, int, string) {
	a := &h.apiSess
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed || a.byKey[s.key] != s:
		return store.ItemID{}, 0, http.StatusUnauthorized, "not logged in"
	case len(s.res) >= apiMaxReservations:
		return store.ItemID{}, 0, http.StatusTooManyRequests, "too many items reserved: upload them or log out first"
	case !a.reserved.tryAcquire():
		return store.ItemID{}, 0, http.StatusServiceUnavailable, "server busy, try again later"
	}
	iw, err := h.cfg.Store.NewItem(s.src, kind, setID)
	if err != nil {
		a.reserved.release()
		h.log.Error("web: api: reserving an item failed", "err", err)
		return store.ItemID{}, 0, http.StatusInternalServerError, "internal error"
	}
	id := iw.ID()
	res := &apiReservation{w: iw, size: size}
	res.timer = time.AfterFunc(h.apiResLife, func() { h.expireReservation(s, id, res) })
	s.res[id] = res
	return id, iw.Sequence(), http.StatusCreated, ""
}

// expireReservation aborts a reservation whose upload did not start in
// time.
func (h *Handler) expireReservation(s *apiSession, id store.ItemID, res *apiReservation) {
	h.apiSess.mu.Lock()
	if s.res[id] != res || res.busy {
		h.apiSess.mu.Unlock()
		return
	}
	drop := takeReservationLocked(s, id, res)
	h.apiSess.mu.Unlock()
	h.abortReservations([]*apiReservation{drop})
}

// apiUpload answers PUT /api/v1/items/<id>: the age file, streamed into
// the reservation and committed. Whatever goes wrong, the reservation is
// aborted.
func (h *Handler) apiUpload(w http.ResponseWriter, r *http.Request, id store.ItemID) {
	start := time.Now()
	s := h.apiAuth(r)
	if s == nil {
		apiError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	a := &h.apiSess
	a.mu.Lock()
	res := s.res[id]
	if res == nil || res.busy {
		a.mu.Unlock()
		apiError(w, http.StatusNotFound, "no such reservation")
		return
	}
	if !h.uploads.tryAcquire() {
		drop := takeReservationLocked(s, id, res)
		a.mu.Unlock()
		h.abortReservations([]*apiReservation{drop})
		apiBusy(w)
		return
	}
	defer h.uploads.release()
	res.busy = true
	res.timer.Stop()
	a.mu.Unlock()

	// While busy, nobody else touches the reservation (logout, expiry and
	// Close leave it to this upload): finish commits or aborts it, before
	// the client is answered.
	finished := false
	finish := func(committed bool) {
		finished = true
		a.mu.Lock()
		res.busy = false
		delete(s.res, id)
		a.mu.Unlock()
		if committed {
			a.reserved.release()
		} else {
			h.abortReservations([]*apiReservation{res})
		}
	}
	defer func() {
		if !finished { // a panic
			finish(false)
		}
	}()
	fail := func(status int, msg string) {
		finish(false)
		apiError(w, status, msg)
	}
	if r.ContentLength != res.size {
		fail(http.StatusBadRequest, "Content-Length must be the reserved size")
		return
	}
	// From here on the body is read: give the upload its own deadlines,
	// as the form does.
	rc := http.NewResponseController(w)
	deadline := start.Add(h.lim.UploadTimeout)
	rc.SetWriteDeadline(deadline.Add(h.lim.RequestTimeout))
	body := &uploadBody{r: http.MaxBytesReader(w, r.Body, res.size), rc: rc, deadline: deadline,
		idle: h.lim.BodyIdleTimeout, budget: -1}
	head := make([]byte, len(ageHeaderLine))
	if _, err := io.ReadFull(body, head); err != nil || string(head) != ageHeaderLine {
		fail(http.StatusBadRequest, "the body is not an age file")
		return
	}
	sw := &storeWriter{w: res.w}
	n, err := io.CopyBuffer(sw, io.MultiReader(bytes.NewReader(head), body), make([]byte, 32<<10))
	if sw.err == nil && err == nil && n == res.size {
		var items []store.Item
		items, err = h.cfg.Store.Commit(res.w)
		if err == nil {
			finish(true)
			apiJSON(w, http.StatusCreated, map[string]any{"id": hex.EncodeToString(id[:]), "seq": items[0].Seq})
			return
		}
		sw.err = err
	}
	if sw.err != nil {
		// Store errors name no client data.
		h.log.Error("web: api: storing an upload failed", "err", sw.err)
		fail(http.StatusInternalServerError, "storing the upload failed: try again later")
		return
	}
	fail(http.StatusBadRequest, "the upload was cut short")
}

// storeWriter tells the store's write errors apart from the body's read
// errors in io.Copy.
type storeWriter struct {
	w   io.Writer
	err error
}

func (s *storeWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// parseItemID parses 32 lower-case hex digits.
func parseItemID(s string) (store.ItemID, bool) {
	var id store.ItemID
	if len(s) != 2*len(id) || strings.ToLower(s) != s {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}
