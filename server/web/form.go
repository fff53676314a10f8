package web

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxSmallForm caps the body of every form except the submission: the
// login form is the largest (a codename of codename.MaxInput bytes, which
// URL encoding can triple).
const maxSmallForm = 4 << 10

// csrfField is the name of the CSRF token field in every form.
const csrfField = "csrf"

// readSmallForm reads a small application/x-www-form-urlencoded body,
// strictly: the body is capped, every field may appear only once, and a
// multipart body is refused (it would never be parsed here anyway:
// ParseMultipartForm, FormValue and FormFile are not used in this package,
// because they spill large parts to plaintext temporary files).
func readSmallForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, errBadRequest
	}
	if r.ContentLength > maxSmallForm {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSmallForm))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, errBadRequest
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errBadRequest
	}
	for _, vs := range v {
		if len(vs) != 1 {
			return nil, errBadRequest
		}
	}
	return v, nil
}

// validCSRF reports whether token is the CSRF token of sess, in constant
// time. A request without a session never passes.
func validCSRF(sess *session, token string) bool {
	if sess == nil || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) == 1
}

// postForm reads a small form and checks its CSRF token against the
// request's session. On failure it has answered the request and returns
// nil values.
func (h *Handler) postForm(w http.ResponseWriter, r *http.Request, lang string) (*session, url.Values) {
	sess := h.sessions.lookup(r)
	v, err := readSmallForm(w, r)
	if err != nil {
		h.fail(w, lang, err)
		return nil, nil
	}
	if !validCSRF(sess, v.Get(csrfField)) {
		h.fail(w, lang, errForbidden)
		return nil, nil
	}
	return sess, v
}

// fail answers a request with the error page that err calls for.
func (h *Handler) fail(w http.ResponseWriter, lang string, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, errPartHeader), errors.Is(err, errTooManyParts):
		status = http.StatusBadRequest
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	case errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, errBusy):
		status = http.StatusServiceUnavailable
	}
	h.renderError(w, lang, status)
}
