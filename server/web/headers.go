package web

import (
	"net/http"
)

// contentSecurityPolicy allows what the pages use and nothing else: one
// stylesheet from this origin and forms that post back to it. There are no
// scripts, images, fonts or frames.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

const (
	contentTypeHTML = "text/html; charset=utf-8"
	contentTypeCSS  = "text/css; charset=utf-8"
)

// setFixedHeaders replaces every header of h with the one fixed set that
// every response carries, errors included. Only Content-Type varies (HTML or
// the stylesheet); Content-Length, Location and Set-Cookie are added by the
// few responses that need them.
//
// The Date header is suppressed by setting it to nil (net/http only adds
// Date when the key is absent); net/http adds no Server header.
func setFixedHeaders(h http.Header, contentType string) {
	clear(h)
	h["Content-Security-Policy"] = []string{contentSecurityPolicy}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Referrer-Policy"] = []string{"no-referrer"}
	h["Cache-Control"] = []string{"no-store"}
	h["Cross-Origin-Opener-Policy"] = []string{"same-origin"}
	h["Cross-Origin-Resource-Policy"] = []string{"same-origin"}
	h["X-Frame-Options"] = []string{"DENY"}
	h["Permissions-Policy"] = []string{"accelerometer=(), camera=(), geolocation=(), gyroscope=(), " +
		"magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()"}
	h["Content-Type"] = []string{contentType}
	h["Date"] = nil
}

// trackingWriter remembers whether the header has been written, so that a
// panic after that point aborts the connection instead of writing a second
// status line.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
