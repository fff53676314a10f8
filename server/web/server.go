package web

import (
	"io"
	"log"
	"net/http"
	"time"
)

// idleTimeout closes keep-alive connections nobody uses.
const idleTimeout = 2 * time.Minute

// NewServer returns an http.Server for h with every timeout set from l
// (zero fields take their defaults, as in [Config]):
//
//   - ReadHeaderTimeout l.ReadHeaderTimeout (30 s by default): slow
//     headers (slowloris) are cut off.
//   - ReadTimeout l.UploadTimeout (3 h by default) and WriteTimeout
//     l.UploadTimeout + l.RequestTimeout: sized for a maximum submission
//     over a slow onion circuit (net/http counts WriteTimeout from the end
//     of the request header, so it must cover the upload too). The handler
//     cuts both to l.RequestTimeout for every request as it arrives; only a
//     submission extends them, while it makes progress: it ends when it
//     sends nothing for l.BodyIdleTimeout, or at l.UploadTimeout.
//   - IdleTimeout 2 min, MaxHeaderBytes l.MaxHeaderBytes.
//
// Its ErrorLog discards everything: net/http's messages name client
// addresses and carry request details. It serves no HTTP/2 (Tor onion
// services speak plain HTTP/1.1 here), and it passes "OPTIONS *" to h
// instead of answering it itself. Serve it on the listener the onion
// service gives (or a loopback listener in development).
func NewServer(h http.Handler, l Limits) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:                      h,
		ReadHeaderTimeout:            l.ReadHeaderTimeout,
		ReadTimeout:                  l.UploadTimeout,
		WriteTimeout:                 l.UploadTimeout + l.RequestTimeout,
		IdleTimeout:                  idleTimeout,
		MaxHeaderBytes:               l.MaxHeaderBytes,
		ErrorLog:                     log.New(io.Discard, "", 0),
		DisableGeneralOptionsHandler: true,
		Protocols:                    http1Only(),
	}
}

func http1Only() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	return p
}
