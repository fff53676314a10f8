package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Handler is the source interface. It is an [http.Handler]; serve it with
// [NewServer]. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	lim   Limits
	log   *slog.Logger
	pages pages
	orgs  []organisation

	sessions     *sessionStore
	uploads      semaphore // submissions in progress
	kdf          semaphore // Argon2id derivations in progress
	newCodenames *bucket
	logins       *bucket
	apiSess      apiSessions   // sessions of the source API (sandyq submit)
	apiResLife   time.Duration // how long an API reservation waits for its upload
}

// New returns a Handler for cfg. It fails only on a bad configuration.
func New(cfg Config) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.KDF.Check(); err != nil {
		return nil, fmt.Errorf("%w: KDF: %w", ErrConfig, err)
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	l := cfg.Limits
	return &Handler{
		cfg:          cfg,
		lim:          l,
		log:          cfg.Logger,
		pages:        p,
		orgs:         organisations(),
		sessions:     newSessionStore(cfg.Rand, cfg.Now, l),
		uploads:      make(semaphore, l.MaxConcurrentUploads),
		kdf:          make(semaphore, l.KDFConcurrency),
		newCodenames: newBucket(l.NewCodenamesPerMinute, cfg.Now),
		logins:       newBucket(l.LoginsPerMinute, cfg.Now),
		apiSess:      apiSessions{byKey: map[[32]byte]*apiSession{}, reserved: make(semaphore, l.MaxReservations)},
		apiResLife:   apiReservationLife,
	}, nil
}

// maxPath bounds the request path we route; nothing longer exists.
const maxPath = 128

// ServeHTTP routes a request. Every response, errors and panics included,
// carries the fixed header set (see setFixedHeaders) and nothing is logged
// about the request itself.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tw := &trackingWriter{ResponseWriter: w}
	setFixedHeaders(tw.Header(), contentTypeHTML)
	// Every request gets RequestTimeout to send its body and read the
	// answer; a submission extends its own deadlines as it makes progress.
	h.setDeadlines(tw, h.lim.RequestTimeout)
	lang := languages[0]
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		// The panic value may hold request data: it is not logged.
		h.log.Error("web: handler panicked")
		if tw.wrote {
			// Half a response is out: abort the connection.
			panic(http.ErrAbortHandler)
		}
		h.renderError(tw, lang, http.StatusInternalServerError)
	}()

	path := r.URL.Path
	if len(path) > maxPath || !strings.HasPrefix(path, "/") {
		h.renderError(tw, negotiate(r.Header.Get("Accept-Language")), http.StatusNotFound)
		return
	}
	if path == "/static/style.css" {
		if !h.allow(tw, r, lang, http.MethodGet) {
			return
		}
		setFixedHeaders(tw.Header(), contentTypeCSS)
		tw.Header()["Content-Length"] = []string{fmt.Sprint(len(styleCSS))}
		tw.WriteHeader(http.StatusOK)
		tw.Write(styleCSS)
		return
	}
	if rest, ok := strings.CutPrefix(path, "/api/v1/"); ok {
		h.api(tw, r, rest)
		return
	}
	first, rest, _ := strings.Cut(path[1:], "/")
	if !isLanguage(first) {
		lang = negotiate(r.Header.Get("Accept-Language"))
		if path != "/" {
			h.renderError(tw, lang, http.StatusNotFound)
			return
		}
		if h.allow(tw, r, lang, http.MethodGet) {
			redirect(tw, "/"+lang+"/")
		}
		return
	}
	lang = first
	h.route(tw, r, lang, rest)
}

// route dispatches a request below /{lang}/. rest is the path after it.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, lang, rest string) {
	if r.Method == http.MethodPost && rest == "submit" {
		h.submit(w, r, lang)
		return
	}

	get := func(fn func(http.ResponseWriter, *http.Request, string)) {
		if h.allow(w, r, lang, http.MethodGet) {
			fn(w, r, lang)
		}
	}
	post := func(fn func(http.ResponseWriter, *http.Request, string)) {
		if h.allow(w, r, lang, http.MethodPost) {
			fn(w, r, lang)
		}
	}
	switch rest {
	case "":
		get(h.landing)
	case "resources":
		get(h.resources)
	case "new":
		if r.Method == http.MethodPost {
			h.newCodename(w, r, lang)
		} else {
			get(h.newPage)
		}
	case "new/confirm":
		post(h.confirmCodename)
	case "login":
		if r.Method == http.MethodPost {
			h.login(w, r, lang)
		} else {
			get(h.loginPage)
		}
	case "submit":
		get(h.submitPage)
	case "receipt":
		get(h.receiptPage)
	case "replies":
		get(h.repliesPage)
	case "logout":
		post(h.logout)
	default:
		id, action, ok := strings.Cut(strings.TrimPrefix(rest, "replies/"), "/")
		switch {
		case !strings.HasPrefix(rest, "replies/") || !validReplyID(id):
			h.renderError(w, lang, http.StatusNotFound)
		case !ok:
			get(func(w http.ResponseWriter, r *http.Request, lang string) { h.replyPage(w, r, lang, id) })
		case action == "delete":
			post(func(w http.ResponseWriter, r *http.Request, lang string) { h.deleteReply(w, r, lang, id) })
		default:
			h.renderError(w, lang, http.StatusNotFound)
		}
	}
}

// allow reports whether r uses method (HEAD counts as GET); otherwise it
// answers 405. State-changing routes accept only POST.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, lang, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	h.renderError(w, lang, http.StatusMethodNotAllowed)
	return false
}

// setDeadlines bounds reading the request body and writing the response.
// (Without a connection, as under httptest.ResponseRecorder, it does
// nothing: the errors say so and are ignored.)
func (h *Handler) setDeadlines(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(d)
	rc.SetReadDeadline(deadline)
	rc.SetWriteDeadline(deadline)
}

// redirect answers 303 See Other to a path of this site.
func redirect(w http.ResponseWriter, path string) {
	w.Header()["Location"] = []string{path}
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusSeeOther)
}
