package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"sandyq/crypto/codename"
	"sandyq/crypto/sourcekey"
	"sandyq/server/store"
)

// newCodename handles POST /{lang}/new: it makes a codename, derives the
// source's keys from it, and shows it once. Nothing is stored until the
// source confirms it has written the codename down; the session keeps the
// derived keys meanwhile, never the codename.
func (h *Handler) newCodename(w http.ResponseWriter, r *http.Request, lang string) {
	sess, _ := h.postForm(w, r, lang)
	if sess == nil {
		return
	}
	if !h.newCodenames.take() {
		h.fail(w, lang, errBusy)
		return
	}
	name, err := codename.Generate(h.cfg.Rand)
	if err != nil {
		h.log.Error("web: generating a codename failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	src, err := h.deriveSource(r.Context(), name)
	if err != nil {
		h.kdfFailed(w, lang, err)
		return
	}
	h.sessions.setPending(sess, src)
	p := newPage(lang, "codename.title", "new", sess)
	p.Codename = name
	h.render(w, http.StatusOK, "codename", p)
}

// confirmCodename handles POST /{lang}/new/confirm: with the "I have
// written it down" box ticked, it creates the source and logs it in under a
// new session ID.
func (h *Handler) confirmCodename(w http.ResponseWriter, r *http.Request, lang string) {
	sess, v := h.postForm(w, r, lang)
	if sess == nil {
		return
	}
	src := h.sessions.takePending(sess)
	if src == nil || v.Get("saved") != "yes" {
		// The codename is gone (it was shown once): start again.
		h.render(w, http.StatusBadRequest, "notconfirmed", newPage(lang, "notconfirmed.title", "new", sess))
		return
	}
	if err := h.cfg.Store.CreateSource(src.id, src.recipient); err != nil {
		h.log.Error("web: creating a source failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	h.startSession(w, lang, sess, src)
}

// login handles POST /{lang}/login. Every codename that is well formed
// costs one full derivation before the store is asked, so the time taken
// does not tell whether the source exists.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, lang string) {
	sess, v := h.postForm(w, r, lang)
	if sess == nil {
		return
	}
	input := v.Get("codename")
	if len(input) > codename.MaxInput {
		// Rejected before any hashing.
		h.render(w, http.StatusBadRequest, "login", h.loginData(lang, sess, "login.failed"))
		return
	}
	if !h.logins.take() {
		h.fail(w, lang, errBusy)
		return
	}
	name, err := codename.Normalize(input)
	if err != nil {
		h.render(w, http.StatusForbidden, "login", h.loginData(lang, sess, "login.failed"))
		return
	}
	src, err := h.deriveSource(r.Context(), name)
	if err != nil {
		h.kdfFailed(w, lang, err)
		return
	}
	if _, err := h.cfg.Store.Source(src.id); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Error("web: looking up a source failed", "err", err)
			h.renderError(w, lang, http.StatusInternalServerError)
			return
		}
		h.render(w, http.StatusForbidden, "login", h.loginData(lang, sess, "login.failed"))
		return
	}
	h.startSession(w, lang, sess, src)
}

// startSession ends the visitor's session and starts a new, logged-in one
// with a new ID: a session ID known before login is worth nothing after.
func (h *Handler) startSession(w http.ResponseWriter, lang string, old *session, src *sourceSession) {
	h.sessions.destroy(old)
	_, c, err := h.sessions.create(src)
	if err != nil {
		h.log.Error("web: starting a session failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, c)
	redirect(w, "/"+lang+"/submit")
}

// logout handles POST /{lang}/logout.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, lang string) {
	sess, _ := h.postForm(w, r, lang)
	if sess == nil {
		return
	}
	h.sessions.destroy(sess)
	http.SetCookie(w, clearCookie())
	redirect(w, "/"+lang+"/")
}

// deriveSource runs the key derivation for a normalised codename under the
// KDF semaphore, and returns what a session keeps of it.
func (h *Handler) deriveSource(ctx context.Context, name string) (*sourceSession, error) {
	if err := h.kdf.acquire(ctx, h.lim.KDFQueueTimeout); err != nil {
		return nil, errBusy
	}
	keys, err := sourcekey.Derive(name, h.cfg.Pepper, h.cfg.KDF)
	h.kdf.release()
	if err != nil {
		return nil, fmt.Errorf("deriving source keys: %w", err)
	}
	src := &sourceSession{
		id:        store.SourceID(keys.SourceID),
		identity:  keys.ReplyIdentity,
		recipient: keys.ReplyRecipient(),
	}
	if _, err := io.ReadFull(h.cfg.Rand, src.macKey[:]); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	src.mac = codenameMAC(src.macKey, name)
	return src, nil
}

func (h *Handler) kdfFailed(w http.ResponseWriter, lang string, err error) {
	if errors.Is(err, errBusy) {
		h.fail(w, lang, errBusy)
		return
	}
	h.log.Error("web: key derivation failed", "err", err)
	h.renderError(w, lang, http.StatusInternalServerError)
}
