// Package reply writes the newsroom's replies to sources on the offline
// laptop: each reply is an envelope (package sandyq/crypto/envelope) of kind
// Reply, encrypted with age, and the replies travel to the server in a reply
// bundle (package sandyq/client/bundle) signed with the journalist's access
// key.
//
// # What a reply is
//
// A reply has a random 16-byte ID. Its envelope header carries that ID as
// the item ID, the source's ID, kind [envelope.Reply] and sequence 0; the
// content is the reply text, UTF-8; the plaintext is padded to its Padmé
// length like every item. The age file is encrypted to the source's reply
// recipient (derived from the source's codename, so only the source can
// read it) and to the newsroom's own recipients, so that the newsroom can
// read again what it sent. The source's reader checks that the header's
// kind, source ID and item ID are those of the reply bundle's manifest.
//
//	rs, err := reply.Recipients(sourceRecipient, []reply.Named{{"the -i identity", myRecipient}})
//	r, err := reply.Seal(rand.Reader, sourceID, text, rs)
//	err = reply.WriteBundle(f, []*reply.Reply{r}, accessKey)
//
// # Size
//
// The server stores at most [MaxSize] bytes of ciphertext per reply, and
// accepts reply bundles of at most [MaxBundleSize] bytes. [MaxText] says how
// long a text fits once framed, padded and encrypted to given recipients
// (a little under 4 MiB); Seal refuses anything longer with ErrTooLarge
// rather than write a reply the server would refuse.
package reply

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/crypto/envelope"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

const (
	// MaxSize is the largest reply the server stores: 4 MiB of age file
	// (server/store.MaxReplySize).
	MaxSize = 4 << 20

	// MaxBundleSize is the largest reply bundle the server accepts at
	// POST /v1/replies: 64 MiB.
	MaxBundleSize = 64 << 20

	// ageChunk and ageTag are age's payload chunk size and the
	// ChaCha20-Poly1305 tag of each chunk; ageNonce is the payload nonce.
	ageChunk = 64 << 10
	ageTag   = 16
	ageNonce = 16
)

// Errors returned by this package. They never contain a reply's text, a
// recipient or a key.
var (
	// ErrTooLarge is returned for a reply whose text does not fit MaxSize
	// once sealed, or replies that do not fit one bundle.
	ErrTooLarge = errors.New("reply: too large")

	// ErrEmpty is returned for an empty reply text.
	ErrEmpty = errors.New("reply: the text is empty")

	// ErrNotText is returned for a reply text that is not valid UTF-8.
	ErrNotText = errors.New("reply: the text is not UTF-8")

	// ErrMixedKinds is returned by Recipients when the source's recipient
	// and another recipient are of different kinds (post-quantum and
	// X25519): age refuses to encrypt one file to both.
	ErrMixedKinds = errors.New("reply: post-quantum and classic recipients cannot be mixed")
)

// Reply is one sealed reply.
type Reply struct {
	ID     [16]byte // random
	Source [32]byte
	Data   []byte // the age file, at most MaxSize bytes
}

// Named is a recipient with a description of where it came from ("the -i
// identity"), for error messages.
type Named struct {
	What      string
	Recipient string
}

// Recipients parses the source's reply recipient and the newsroom's own
// recipients and returns them for Seal, the source's first, duplicates
// dropped. Every recipient must be of the source's kind: a classic
// ("age1…") recipient next to a post-quantum source recipient is refused
// with ErrMixedKinds, naming it by its What.
func Recipients(source string, others []Named) ([]age.Recipient, error) {
	sr, kind, err := recipients.ParseRecipient(source)
	if err != nil {
		return nil, fmt.Errorf("the source's reply recipient: %w", err)
	}
	out := []age.Recipient{sr}
	seen := map[string]bool{}
	if c, _, err := recipients.Canonical(source); err == nil {
		seen[c] = true
	}
	for _, o := range others {
		c, k, err := recipients.Canonical(o.Recipient)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.What, err)
		}
		if k != kind {
			return nil, fmt.Errorf("%w: %s is %s but the source's reply recipient is %s", ErrMixedKinds, o.What, kindName(k), kindName(kind))
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		r, _, err := recipients.ParseRecipient(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.What, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func kindName(k recipients.Kind) string {
	if k == recipients.PQ {
		return "post-quantum (age1pq1…)"
	}
	return "classic X25519 (age1…)"
}

// header returns the envelope header of a reply.
func header(id [16]byte, source [32]byte) *envelope.Header {
	return &envelope.Header{ItemID: id, SourceID: source, Kind: envelope.Reply}
}

// ageSize returns the length of an age file with a header of hdr bytes and
// a plaintext of n bytes.
func ageSize(hdr, n int64) int64 {
	chunks := max(1, (n+ageChunk-1)/ageChunk)
	return hdr + ageNonce + n + chunks*ageTag
}

// headerSize returns the length of the age header for rs (it depends only
// on the number and types of recipients).
func headerSize(rs []age.Recipient) (int64, error) {
	var c counter
	w, err := age.Encrypt(&c, rs...)
	if err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	return int64(c) - ageSize(0, 0), nil
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

// MaxText returns the longest reply text, in bytes, that fits MaxSize once
// sealed to rs.
func MaxText(rs []age.Recipient) (int64, error) {
	hdr, err := headerSize(rs)
	if err != nil {
		return 0, err
	}
	return maxText(hdr), nil
}

func maxText(ageHeader int64) int64 {
	h := header([16]byte{}, [32]byte{})
	fits := func(n int64) bool { return ageSize(ageHeader, envelope.PaddedSize(h, n)) <= MaxSize }
	lo, hi := int64(-1), int64(MaxSize) // fits(lo) or lo < 0; !fits(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// CheckText returns ErrEmpty, ErrNotText or nil.
func CheckText(text []byte) error {
	switch {
	case len(text) == 0:
		return ErrEmpty
	case !utf8.Valid(text):
		return ErrNotText
	}
	return nil
}

// Seal makes a reply to source with the given text, encrypted to rs (from
// Recipients), with a reply ID read from rand. It refuses an empty text,
// one that is not UTF-8, and one longer than MaxText(rs) (ErrTooLarge).
func Seal(rand io.Reader, source [32]byte, text []byte, rs []age.Recipient) (*Reply, error) {
	if err := CheckText(text); err != nil {
		return nil, err
	}
	hdr, err := headerSize(rs)
	if err != nil {
		return nil, err
	}
	if limit := maxText(hdr); int64(len(text)) > limit {
		return nil, fmt.Errorf("%w: the text is %d bytes; at most %d bytes fit in one reply (a reply is at most %d bytes once padded and encrypted)",
			ErrTooLarge, len(text), limit, MaxSize)
	}
	r := &Reply{Source: source}
	if _, err := io.ReadFull(rand, r.ID[:]); err != nil {
		return nil, fmt.Errorf("reply: reading randomness: %w", err)
	}
	h := header(r.ID, source)
	var buf bytes.Buffer
	buf.Grow(int(ageSize(hdr, envelope.PaddedSize(h, int64(len(text))))))
	w, err := envelope.Seal(&buf, h, rs...)
	if err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	if _, err := w.Write(text); err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	if buf.Len() > MaxSize {
		// MaxText is exact; this is a broken invariant, not user input.
		panic(fmt.Sprintf("reply: sealed %d bytes, more than %d", buf.Len(), MaxSize))
	}
	r.Data = buf.Bytes()
	return r, nil
}

// WriteBundle writes a reply bundle of rs, signed with the access key key,
// to w. Replies are written in the order of their IDs, as the format
// requires. The bundle must not exceed MaxBundleSize (ErrTooLarge) and the
// reply IDs must differ.
func WriteBundle(w io.Writer, rs []*Reply, key *sign.PrivateKey) error {
	if len(rs) == 0 {
		return errors.New("reply: no replies")
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b *Reply) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	m := &bundle.Manifest{Type: bundle.Replies}
	var total int64
	for i, r := range sorted {
		if i > 0 && r.ID == sorted[i-1].ID {
			return errors.New("reply: two replies have the same ID")
		}
		total += int64(len(r.Data))
		m.Replies = append(m.Replies, bundle.Reply{
			ID: r.ID, Source: r.Source, Size: int64(len(r.Data)), SHA256: sha256.Sum256(r.Data),
		})
	}
	// The manifest is about 200 bytes per reply; the header 124.
	if size := total + int64(len(sorted))*256 + 1024; size > MaxBundleSize {
		return fmt.Errorf("%w: %d replies of %d bytes in all; a bundle holds at most %d bytes: write fewer replies per bundle",
			ErrTooLarge, len(sorted), total, MaxBundleSize)
	}
	bw, err := bundle.NewWriter(w, m, key)
	if err != nil {
		return err
	}
	for _, r := range sorted {
		if err := bw.WriteItem(bytes.NewReader(r.Data)); err != nil {
			return err
		}
	}
	return bw.Close()
}
