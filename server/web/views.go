package web

import (
	"net/http"

	"sandyq/crypto/codename"
)

// landing handles GET /{lang}/.
func (h *Handler) landing(w http.ResponseWriter, r *http.Request, lang string) {
	h.render(w, http.StatusOK, "landing", newPage(lang, "landing.title", "", h.sessions.lookup(r)))
}

// resources handles GET /{lang}/resources.
func (h *Handler) resources(w http.ResponseWriter, r *http.Request, lang string) {
	p := newPage(lang, "resources.title", "resources", h.sessions.lookup(r))
	p.Orgs = h.orgs
	h.render(w, http.StatusOK, "resources", p)
}

// formSession returns the request's session, or starts an anonymous one
// (setting its cookie) for a page whose form needs a CSRF token.
func (h *Handler) formSession(w http.ResponseWriter, r *http.Request) (*session, error) {
	if sess := h.sessions.lookup(r); sess != nil {
		return sess, nil
	}
	sess, c, err := h.sessions.create(nil)
	if err != nil {
		return nil, err
	}
	http.SetCookie(w, c)
	return sess, nil
}

// newPage handles GET /{lang}/new.
func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, lang string) {
	sess, err := h.formSession(w, r)
	if err != nil {
		h.log.Error("web: starting a session failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	h.render(w, http.StatusOK, "new", newPage(lang, "new.title", "new", sess))
}

// loginPage handles GET /{lang}/login.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, lang string) {
	sess, err := h.formSession(w, r)
	if err != nil {
		h.log.Error("web: starting a session failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	h.render(w, http.StatusOK, "login", h.loginData(lang, sess, ""))
}

func (h *Handler) loginData(lang string, sess *session, problem string) *pageData {
	p := newPage(lang, "login.title", "login", sess)
	p.MaxCodename = codename.MaxInput
	p.Problem = problem
	return p
}

// source returns the logged-in session of the request; without one it
// sends the browser to the login page and returns nil.
func (h *Handler) source(w http.ResponseWriter, r *http.Request, lang string) *session {
	sess := h.sessions.lookup(r)
	if sess == nil || sess.src == nil {
		redirect(w, "/"+lang+"/login")
		return nil
	}
	return sess
}

// submitPage handles GET /{lang}/submit.
func (h *Handler) submitPage(w http.ResponseWriter, r *http.Request, lang string) {
	sess := h.source(w, r, lang)
	if sess == nil {
		return
	}
	p := h.submitData(lang, sess)
	_, p.Closed = h.formState()
	h.render(w, http.StatusOK, "submit", p)
}

func (h *Handler) submitData(lang string, sess *session) *pageData {
	p := newPage(lang, "submit.title", "submit", sess)
	// A browser's maxlength counts UTF-16 code units, the server's cap
	// counts bytes: one unit is at most 3 bytes of UTF-8 (a line break,
	// sent as CR LF, is 2).
	p.MaxMessageChars = h.lim.MaxMessage / 3
	p.MaxSubmissionMiB = h.lim.MaxSubmission >> 20
	return p
}

// receiptPage handles GET /{lang}/receipt.
func (h *Handler) receiptPage(w http.ResponseWriter, r *http.Request, lang string) {
	sess := h.source(w, r, lang)
	if sess == nil {
		return
	}
	rec := h.sessions.lastReceipt(sess)
	if rec == nil {
		redirect(w, "/"+lang+"/submit")
		return
	}
	p := newPage(lang, "receipt.title", "receipt", sess)
	p.Receipt = &receiptView{Messages: rec.messages, Files: rec.files}
	h.render(w, http.StatusOK, "receipt", p)
}
