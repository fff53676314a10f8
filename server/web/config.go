package web

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sourcekey"
	"sandyq/server/store"
)

// Config configures a [Handler]. Store and Pepper are required; every other
// zero value has a documented default.
type Config struct {
	// Store receives new sources and their submissions, and holds the
	// replies journalists leave for them. Required.
	Store *store.Store

	// Pepper is the instance pepper, the Argon2id salt of codenames
	// (sourcekey.PepperSize bytes, from the data directory). Required.
	Pepper []byte

	// KDF is the Argon2id cost of codename derivation. The zero value means
	// sourcekey.Default. Tests pass sourcekey.TestParams().
	KDF sourcekey.Params

	// RecipientSet returns the current signed recipient set (already
	// verified against the pinned newsroom key) and its parsed age
	// recipients. It is called when the form is shown and once at the start
	// of each submission; a submission keeps the set it started with. When it
	// returns ErrNoRecipientSet, a nil set, no recipients, any other error,
	// or a set whose validity window does not contain Now, the submission
	// form is closed with a clear message and nothing is accepted. A nil func
	// means no set is ever installed.
	RecipientSet func() (*recipients.Signed, []age.Recipient, error)

	// Rand is the source of codenames, session IDs and CSRF tokens.
	// The zero value means crypto/rand.Reader.
	Rand io.Reader

	// Now is the clock used for session expiry and rate limits.
	// The zero value means time.Now.
	Now func() time.Time

	// Logger receives operational events only: failures of the store or
	// of the disk check, panics, recipient-set problems. It never receives
	// message text, codenames, file names, session IDs, CSRF tokens, user
	// agents, addresses or source IDs. The zero value discards everything.
	Logger *slog.Logger

	// Limits bounds every resource a client can make the server spend.
	// Zero fields take their documented defaults.
	Limits Limits

	// DiskFree reports the bytes available to the store's file system. When
	// it reports less than Limits.MinFreeDisk, or fails, the form closes
	// before any byte of a submission is read. The zero value disables the
	// check: THIS IS UNSAFE outside tests, a full disk then fails uploads
	// half-way instead of refusing them up front.
	DiskFree func() (uint64, error)
}

// Limits bounds what one client, or all of them together, can make the
// server spend. There are no client addresses behind Tor, so every rate
// limit is global. Each zero field means its default.
type Limits struct {
	// MaxSubmission caps the body of one submission, message and files
	// together, in bytes. Default 2 GiB.
	MaxSubmission int64
	// MaxParts caps the multipart parts of one submission (the CSRF field,
	// the message and each file). Default 32.
	MaxParts int
	// MaxMessage caps the message text of one submission, in bytes. The
	// text is held in memory until it has been checked for the source's own
	// codename, so this bounds memory too. Default 1 MiB.
	MaxMessage int
	// MaxHeaderBytes caps the request header (http.Server.MaxHeaderBytes)
	// and the header of each multipart part. Default 16 KiB.
	MaxHeaderBytes int
	// MaxConcurrentUploads caps submissions in progress; further ones get a
	// "busy, try again later" page (503) before any body byte is read.
	// Default 32. Memory in the worst case is about MaxConcurrentUploads ×
	// (MaxMessage + MaxParts × 2 × the store's ChunkSize): 32 × (1 MiB +
	// 32 × 512 KiB) ≈ 544 MiB with the defaults.
	MaxConcurrentUploads int
	// MaxReservations caps the items reserved through the source API
	// ("sandyq submit") and not yet committed, of all sessions together;
	// further reservations get 503. Each holds one store chunk buffer
	// (256 KiB by default) until it is uploaded, aborted, or expires after
	// 10 minutes. Default 128 (32 MiB of buffers).
	MaxReservations int
	// SessionIdle ends a session after this long without a request.
	// Default 30 minutes.
	SessionIdle time.Duration
	// MaxSessions caps sources logged in at once; when full, the session
	// idle the longest is ended. The source API's sessions are capped by
	// the same number, separately. Default 10000.
	MaxSessions int
	// MaxAnonSessions caps sessions of visitors who have not logged in (they
	// exist only to carry a CSRF token into the login and new-codename
	// forms). They are kept apart so that a flood of them cannot log out a
	// source. Default 10000.
	MaxAnonSessions int
	// KDFConcurrency caps Argon2id derivations running at once (each uses
	// KDF.MemoryKiB of memory). Default 2.
	KDFConcurrency int
	// KDFQueueTimeout is how long a login or a new codename waits for a KDF
	// slot before the client gets a "busy" page (503). Default 15 seconds.
	KDFQueueTimeout time.Duration
	// NewCodenamesPerMinute and LoginsPerMinute are global token buckets
	// (their capacity is one minute's worth). Defaults 30 and 60.
	NewCodenamesPerMinute int
	LoginsPerMinute       int
	// MinFreeDisk is the free-disk floor below which the form closes.
	// Default 2 GiB.
	MinFreeDisk uint64
	// UploadTimeout caps the time to read one submission; it also sizes
	// http.Server.ReadTimeout and WriteTimeout in [NewServer]. Tor onion
	// circuits often carry 100–500 KiB/s: 2 GiB at 200 KiB/s takes about
	// 3 hours. Default 3 hours.
	UploadTimeout time.Duration
	// BodyIdleTimeout ends an upload that sends nothing for this long.
	// Default 2 minutes.
	BodyIdleTimeout time.Duration
	// RequestTimeout caps reading and answering every request other than a
	// submission. Default 1 minute.
	RequestTimeout time.Duration
	// ReadHeaderTimeout caps reading a request's line and headers
	// (http.Server.ReadHeaderTimeout in [NewServer]), against slow-header
	// attacks. Tor adds seconds of latency, not minutes. Default 30 seconds.
	ReadHeaderTimeout time.Duration
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	setDefault(&l.MaxSubmission, 2<<30)
	setDefault(&l.MaxParts, 32)
	setDefault(&l.MaxMessage, 1<<20)
	setDefault(&l.MaxHeaderBytes, 16<<10)
	setDefault(&l.MaxConcurrentUploads, 32)
	setDefault(&l.MaxReservations, 128)
	setDefault(&l.SessionIdle, 30*time.Minute)
	setDefault(&l.MaxSessions, 10000)
	setDefault(&l.MaxAnonSessions, 10000)
	setDefault(&l.KDFConcurrency, 2)
	setDefault(&l.KDFQueueTimeout, 15*time.Second)
	setDefault(&l.NewCodenamesPerMinute, 30)
	setDefault(&l.LoginsPerMinute, 60)
	setDefault(&l.MinFreeDisk, 2<<30)
	setDefault(&l.UploadTimeout, 3*time.Hour)
	setDefault(&l.BodyIdleTimeout, 2*time.Minute)
	setDefault(&l.RequestTimeout, time.Minute)
	setDefault(&l.ReadHeaderTimeout, 30*time.Second)
	return l
}

func setDefault[T int | int64 | uint64 | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// check refuses negative limits, which have no meaning.
func (l Limits) check() error {
	if l.MaxSubmission < 0 || l.MaxParts < 0 || l.MaxMessage < 0 || l.MaxHeaderBytes < 0 ||
		l.MaxConcurrentUploads < 0 || l.MaxReservations < 0 || l.SessionIdle < 0 || l.MaxSessions < 0 ||
		l.MaxAnonSessions < 0 || l.KDFConcurrency < 0 || l.KDFQueueTimeout < 0 ||
		l.NewCodenamesPerMinute < 0 || l.LoginsPerMinute < 0 || l.UploadTimeout < 0 ||
		l.BodyIdleTimeout < 0 || l.RequestTimeout < 0 || l.ReadHeaderTimeout < 0 {
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	if l.MaxParts < 2 {
		return fmt.Errorf("%w: MaxParts must allow the CSRF field and one more part", ErrConfig)
	}
	return nil
}

// withDefaults returns c with every zero field set to its default, or an
// error naming a required field that is missing.
func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, fmt.Errorf("%w: Store is required", ErrConfig)
	}
	if len(c.Pepper) != sourcekey.PepperSize {
		return c, fmt.Errorf("%w: Pepper must be %d bytes", ErrConfig, sourcekey.PepperSize)
	}
	if c.KDF == (sourcekey.Params{}) {
		c.KDF = sourcekey.Default
	}
	if c.RecipientSet == nil {
		c.RecipientSet = func() (*recipients.Signed, []age.Recipient, error) {
			return nil, nil, ErrNoRecipientSet
		}
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Limits = c.Limits.withDefaults()
	if err := c.Limits.check(); err != nil {
		return c, err
	}
	return c, nil
}
