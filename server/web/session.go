package web

import (
	"container/list"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"filippo.io/age"

	"sandyq/server/store"
)

// Sessions live in memory only and die with the process. The cookie holds
// only a random session ID; the server keeps, per session, the CSRF token
// and, once a source has logged in, its source ID and reply identity. The
// codename itself is never kept: only an HMAC of it under a random key of
// the same session, for the "your message contains your codename" warning.
//
// The cookie is HttpOnly, SameSite=Strict, Path=/, and has no Expires or
// Max-Age, so the browser forgets it when it closes (Tor Browser forgets
// everything on close anyway). It is not Secure: the onion service speaks
// plain HTTP (Tor encrypts and authenticates the connection end to end),
// and a Secure cookie would never be sent back over http://…onion by
// browsers that do not treat onion origins as secure contexts.

// sessionCookie is the name of the session cookie.
const sessionCookie = "sid"

// sessionIDSize is the number of random bytes in a session ID.
const sessionIDSize = 32

// sourceSession is what a logged-in session knows about its source. It is
// never modified after creation.
type sourceSession struct {
	id        store.SourceID
	identity  age.Identity // the reply identity, derived at login
	recipient string       // its recipient, stored when the source is created
	macKey    [32]byte     // random, per session
	mac       [32]byte     // HMAC-SHA256(macKey, normalised codename)
}

// receipt is what the receipt page shows after a committed submission.
type receipt struct {
	messages, files int
}

// session is one browser's session. Fields marked "mu" are guarded by the
// owning sessionStore's mu; the others never change after creation.
type session struct {
	key  [32]byte // SHA-256 of the ID: the map key (the ID itself is not kept)
	csrf string
	src  *sourceSession // nil until the source logs in

	lastSeen time.Time      // mu
	elem     *list.Element  // mu: position in its pool's LRU list
	inUse    int            // mu: uploads in progress; never evicted while > 0
	pending  *sourceSession // mu: a new codename shown but not yet confirmed
	receipt  *receipt       // mu: the last committed submission
}

// sessionPool is an LRU list of sessions with a bound.
type sessionPool struct {
	lru list.List // front: most recently used
	max int
}

// sessionStore holds every session.
type sessionStore struct {
	rand io.Reader
	now  func() time.Time
	idle time.Duration

	mu      sync.Mutex
	byKey   map[[32]byte]*session // mu
	sources sessionPool           // mu: logged-in sessions
	anon    sessionPool           // mu: sessions of visitors not logged in
}

func newSessionStore(rand io.Reader, now func() time.Time, l Limits) *sessionStore {
	s := &sessionStore{rand: rand, now: now, idle: l.SessionIdle, byKey: make(map[[32]byte]*session)}
	s.sources.max = l.MaxSessions
	s.anon.max = l.MaxAnonSessions
	return s
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(rand io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionKey maps a cookie value to a map key, or reports that the value
// cannot be a session ID (wrong length or alphabet).
func sessionKey(value string) ([32]byte, bool) {
	if len(value) != base64.RawURLEncoding.EncodedLen(sessionIDSize) {
		return [32]byte{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) != sessionIDSize {
		return [32]byte{}, false
	}
	return sha256.Sum256(raw), true
}

func (s *sessionStore) pool(sess *session) *sessionPool {
	if sess.src != nil {
		return &s.sources
	}
	return &s.anon
}

// lookup returns the live session named by the request's cookie, or nil.
// It refreshes the session's idle timer.
func (s *sessionStore) lookup(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	key, ok := sessionKey(c.Value)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byKey[key]
	if sess == nil {
		return nil
	}
	now := s.now()
	if sess.inUse == 0 && now.Sub(sess.lastSeen) > s.idle {
		s.removeLocked(sess)
		return nil
	}
	sess.lastSeen = now
	s.pool(sess).lru.MoveToFront(sess.elem)
	return sess
}

// create makes a new session (logged in when src is not nil) and returns it
// with the cookie that names it. IDs come only from here: a session ID a
// client makes up is never adopted.
func (s *sessionStore) create(src *sourceSession) (*session, *http.Cookie, error) {
	id, err := randomToken(s.rand, sessionIDSize)
	if err != nil {
		return nil, nil, err
	}
	csrf, err := randomToken(s.rand, 32)
	if err != nil {
		return nil, nil, err
	}
	key, _ := sessionKey(id)
	sess := &session{key: key, csrf: csrf, src: src}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey[key] != nil {
		// 256 random bits collided: the random source is broken.
		panic("web: session ID collision")
	}
	now := s.now()
	sess.lastSeen = now
	p := s.pool(sess)
	s.expireLocked(p, now)
	for p.lru.Len() >= p.max {
		if !s.evictOneLocked(p) {
			break
		}
	}
	sess.elem = p.lru.PushFront(sess)
	s.byKey[key] = sess
	return sess, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}, nil
}

// expireLocked removes the idle sessions at the back of p.
func (s *sessionStore) expireLocked(p *sessionPool, now time.Time) {
	for e := p.lru.Back(); e != nil; {
		sess := e.Value.(*session)
		prev := e.Prev()
		if now.Sub(sess.lastSeen) <= s.idle {
			return
		}
		if sess.inUse == 0 {
			s.removeLocked(sess)
		}
		e = prev
	}
}

// evictOneLocked removes the least recently used session of p that has no
// upload in progress, and reports whether there was one.
func (s *sessionStore) evictOneLocked(p *sessionPool) bool {
	for e := p.lru.Back(); e != nil; e = e.Prev() {
		if sess := e.Value.(*session); sess.inUse == 0 {
			s.removeLocked(sess)
			return true
		}
	}
	return false
}

func (s *sessionStore) removeLocked(sess *session) {
	if s.byKey[sess.key] != sess {
		return
	}
	delete(s.byKey, sess.key)
	s.pool(sess).lru.Remove(sess.elem)
	sess.elem = nil
	sess.pending = nil
	sess.receipt = nil
}

// destroy ends a session (logout, or login replacing it).
func (s *sessionStore) destroy(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(sess)
}

// alive reports whether sess is still in the store.
func (s *sessionStore) alive(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[sess.key] == sess
}

// acquire and release bracket an upload: a session in use is never expired
// or evicted, so the receipt is still there when a long upload ends.
func (s *sessionStore) acquire(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.inUse++
}

func (s *sessionStore) release(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.inUse--
	sess.lastSeen = s.now()
	if sess.elem != nil {
		s.pool(sess).lru.MoveToFront(sess.elem)
	}
}

func (s *sessionStore) setPending(sess *session, p *sourceSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.pending = p
}

// takePending returns and forgets the session's unconfirmed new codename.
func (s *sessionStore) takePending(sess *session) *sourceSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := sess.pending
	sess.pending = nil
	return p
}

func (s *sessionStore) setReceipt(sess *session, r *receipt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.receipt = r
}

func (s *sessionStore) lastReceipt(sess *session) *receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sess.receipt
}

// count returns the number of sessions, for tests.
func (s *sessionStore) count() (sources, anon int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sources.lru.Len(), s.anon.lru.Len()
}

// clearCookie is the Set-Cookie that makes the browser forget the session.
func clearCookie() *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}
