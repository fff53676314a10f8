// Package web is the source interface of sandyq: the web pages through
// which sources submit messages and files and read replies, served as an
// [http.Handler] behind a Tor onion service.
//
// Sources use Tor Browser on its "Safest" level, so the pages use no
// JavaScript at all: plain HTML forms, one small stylesheet from the same
// origin, nothing else. They speak English, Russian and Kazakh.
//
// # Using it
//
//	h, err := web.New(web.Config{
//		Store:        st,       // *store.Store
//		Pepper:       pepper,   // from the data directory
//		RecipientSet: current,  // the installed, verified recipient set
//		DiskFree:     free,     // bytes free on the store's file system
//		Logger:       logger,
//	})
//	srv := web.NewServer(h, web.Limits{})
//	err = srv.Serve(onionListener)
//
// [Config] documents every field and its zero value; [Limits] bounds
// everything a client can make the server spend. [NewServer] sets every
// timeout. Shut the server down with http.Server.Shutdown: submissions in
// progress are then aborted or finished, never half-stored; then call
// Handler.Close, which aborts the source API's open reservations.
//
// # Pages
//
// Every page lives under a language prefix, /en/, /ru/ or /kk/; "/" sends
// the browser to the language its Accept-Language header prefers (Tor
// Browser usually claims English), and every page links to the others.
//
//	GET  /{lang}/                   what to expect, how to stay safe, metadata
//	GET  /{lang}/new                about codenames
//	POST /{lang}/new                make a codename and show it, once
//	POST /{lang}/new/confirm        "I have written it down": create the source, log in
//	GET  /{lang}/login              log in with a codename
//	POST /{lang}/login
//	GET  /{lang}/submit             the form: a message and several files
//	POST /{lang}/submit             multipart/form-data, streamed
//	GET  /{lang}/receipt            after a submission was committed
//	GET  /{lang}/replies            replies from journalists
//	GET  /{lang}/replies/{id}       read one (decrypted in memory)
//	POST /{lang}/replies/{id}/delete
//	POST /{lang}/logout
//	GET  /{lang}/resources          organisations that help journalists in danger
//	GET  /static/style.css
//
// The source API, for "sandyq submit" (encryption on the source's machine;
// JSON, bearer tokens, no cookies; docs/format.md, "Source API"):
//
//	GET    /api/v1/recipients       the signed recipient set in force
//	POST   /api/v1/session          log in or create a source with a codename
//	POST   /api/v1/items            reserve an item ID and sequence number
//	PUT    /api/v1/items/{id}       the age file, streamed and committed
//	DELETE /api/v1/session          log out, aborting open reservations
//
// Everything else is 404; a known path with another method is 405. There
// is no debug or metrics endpoint, and no use of http.DefaultServeMux.
//
// # Codenames and sessions
//
// A source has no account: it gets a codename of seven random words
// (package sandyq/crypto/codename), shown once. Its source ID and reply
// identity are derived from it with Argon2id and the instance pepper
// (package sandyq/crypto/sourcekey); only the source ID and the reply
// recipient are stored. Logging in always runs the full derivation before
// looking the source up, so timing does not tell whether a codename exists.
// Derivations run under a small semaphore with a queue timeout, and new
// codenames and logins are throttled by global token buckets (there are no
// client addresses behind Tor).
//
// Sessions are kept in memory only, bounded in number, and end after
// Limits.SessionIdle without a request, at logout, or when the process
// stops. The cookie holds a random ID and nothing else; it is HttpOnly,
// SameSite=Strict and has no expiry. It is deliberately not Secure: the
// onion service speaks http:// (Tor itself encrypts and authenticates the
// connection) and a Secure cookie would not be sent back there by browsers
// that do not count onion origins as secure. Logging in always starts a
// new session ID. Every form carries the session's CSRF token, compared in
// constant time; every state-changing route is POST-only.
//
// # Submissions
//
// A submission is read with Request.MultipartReader, part by part, and each
// part is encrypted as it arrives (package sandyq/crypto/envelope) into a
// store upload; ParseMultipartForm, FormValue and FormFile are never used,
// because they write large parts to plaintext temporary files. The message
// and each file become separate items; a file's original name and media
// type exist only inside its ciphertext. All items of a submission are
// committed together, and the receipt is shown only after that commit has
// reached the disk. On any error every upload is aborted and nothing is
// visible. The message is checked, in memory, for the source's own
// codename; if it is there the source is warned and nothing is encrypted.
//
// Before any byte of a submission is read the handler checks the session,
// the number of uploads in progress, the recipient set, the free disk
// space and the declared size; while reading it caps the body, the
// number of parts, each part's header and the message length.
//
// # Responses
//
// Every response, errors included, carries one fixed set of headers: a
// strict Content-Security-Policy (default-src 'none'; style-src 'self';
// form-action 'self'; frame-ancestors 'none'; base-uri 'none'), nosniff,
// no-referrer, no-store, same-origin opener and resource policies,
// X-Frame-Options DENY and a Permissions-Policy that denies every device.
// There is no Server header, no Date header, no error text, no internal
// ID or path. A panic in a handler becomes a generic 500 page.
//
// # Logs
//
// Nothing is logged per request: there is no access log. The logger gets
// only failures on the server's side (store, disk, recipient set, panics),
// never message text, codenames, file names, session IDs, tokens, user
// agents, addresses or source IDs.
package web
