package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"sandyq/crypto/sign"
)

// Manifest describes a bundle: who signed it, what it carries, and the size
// and SHA-256 of every item, in the order the items follow it.
//
// A submissions bundle fills After, UpTo, Sources and Items; a reply bundle
// fills Replies; a rewrap bundle fills Rewraps. The other fields must be
// empty.
type Manifest struct {
	Type Type

	// Signer is the key that signs the bundle: the server's instance key
	// for a submissions bundle, the journalist's access key for a reply or
	// rewrap bundle. NewWriter fills it from its signer; a reader fills it from the
	// verified bundle.
	Signer *sign.PublicKey

	// After and UpTo are the cursor range of a submissions bundle: it
	// carries the items committed with a cursor c, After < c <= UpTo,
	// that still existed when it was made. A client asks for the next
	// bundle with After set to this bundle's UpTo.
	After, UpTo uint64

	// Sources lists, sorted by ID, every source that has items in the
	// bundle, with the recipient its replies are encrypted to.
	Sources []Source

	// Items lists the items of a submissions bundle, sorted by ID; their
	// bytes follow the manifest in this order.
	Items []Item

	// Replies lists the replies of a reply bundle, sorted by ID; their bytes
	// follow the manifest in this order.
	Replies []Reply

	// Rewraps lists the items of a rewrap bundle, sorted by ID; their new
	// ciphertexts follow the manifest in this order.
	Rewraps []Rewrap
}

// Source is a source with items in a submissions bundle.
type Source struct {
	ID [32]byte
	// ReplyRecipient is the age recipient that replies to this source are
	// encrypted to: "age1" and lower-case letters and digits, at most
	// MaxRecipientSize bytes. The client still has to parse it.
	ReplyRecipient string
}

// Item is an item of a submissions bundle: one age file. Everything but
// Size and SHA256 is also bound by the envelope inside the age file, which
// the client must compare after decrypting.
type Item struct {
	ID     [16]byte
	Source [32]byte
	Kind   Kind
	Seq    uint64   // per-source sequence number
	SetID  [16]byte // recipient set the item is encrypted to
	Day    uint32   // UTC days since 1970-01-01 of its commit
	Size   int64    // bytes
	SHA256 [32]byte // of its bytes
}

// Reply is a reply of a reply bundle: one age file encrypted to the reply
// recipient of its source.
type Reply struct {
	ID     [16]byte // chosen at random by the journalist's client
	Source [32]byte
	Size   int64
	SHA256 [32]byte
}

// Rewrap is an item of a rewrap bundle: the new ciphertext of an item the
// server holds, re-encrypted offline to another recipient set. Its envelope
// keeps the item's header (item ID, source ID, kind, sequence, file name
// and media type), which the clients that open it check as for any item.
type Rewrap struct {
	ID     [16]byte // the item's ID, as the server knows it
	Source [32]byte // the item's source
	SetID  [16]byte // the recipient set the new ciphertext is encrypted to
	Size   int64    // bytes of the new ciphertext
	SHA256 [32]byte // of the new ciphertext
}

// count returns the number of item entries of m.
func (m *Manifest) count() int {
	switch m.Type {
	case Replies:
		return len(m.Replies)
	case Rewraps:
		return len(m.Rewraps)
	}
	return len(m.Items)
}

// entry returns the i-th item entry of m.
func (m *Manifest) entry(i int) Entry {
	switch m.Type {
	case Replies:
		r := &m.Replies[i]
		return Entry{Index: i, ID: r.ID, Source: r.Source, Size: r.Size, SHA256: r.SHA256}
	case Rewraps:
		r := &m.Rewraps[i]
		return Entry{Index: i, ID: r.ID, Source: r.Source, Size: r.Size, SHA256: r.SHA256}
	}
	it := &m.Items[i]
	return Entry{Index: i, ID: it.ID, Source: it.Source, Size: it.Size, SHA256: it.SHA256}
}

// Entry is the part of an item's manifest entry common to every bundle
// type. Index is its position in Manifest.Items or Manifest.Replies.
type Entry struct {
	Index  int
	ID     [16]byte
	Source [32]byte
	Size   int64
	SHA256 [32]byte
}

// The JSON encoding. Field order here is the canonical order.

type wireManifest struct {
	Version int           `json:"version"`
	Type    string        `json:"type"`
	Signer  string        `json:"signer"`
	After   *uint64       `json:"after,omitempty"`
	UpTo    *uint64       `json:"up_to,omitempty"`
	Sources *[]wireSource `json:"sources,omitempty"`
	Items   *[]wireItem   `json:"items,omitempty"`
	Replies *[]wireReply  `json:"replies,omitempty"`
}

type wireSource struct {
	ID             string `json:"id"`
	ReplyRecipient string `json:"reply_recipient"`
}

type wireItem struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Seq    uint64 `json:"seq"`
	Set    string `json:"set"`
	Day    uint32 `json:"day"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type wireReply struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// wireRewrapManifest is the manifest of a rewrap bundle. Its "items" have
// another schema than a submissions bundle's, hence a type of its own.
type wireRewrapManifest struct {
	Version int          `json:"version"`
	Type    string       `json:"type"`
	Signer  string       `json:"signer"`
	Items   []wireRewrap `json:"items"`
}

type wireRewrap struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Set    string `json:"set"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// The schemas the strict parser checks before decoding.
var (
	sourceShape = object(map[string]*shape{
		"id": str, "reply_recipient": str,
	})
	itemShape = object(map[string]*shape{
		"id": str, "source": str, "kind": str, "seq": num, "set": str,
		"day": num, "size": num, "sha256": str,
	})
	replyShape = object(map[string]*shape{
		"id": str, "source": str, "size": num, "sha256": str,
	})
	submissionsShape = object(map[string]*shape{
		"version": num, "type": str, "signer": str, "after": num, "up_to": num,
		"sources": array(sourceShape), "items": array(itemShape),
	})
	repliesShape = object(map[string]*shape{
		"version": num, "type": str, "signer": str, "replies": array(replyShape),
	})
	rewrapItemShape = object(map[string]*shape{
		"id": str, "source": str, "set": str, "size": num, "sha256": str,
	})
	rewrapShape = object(map[string]*shape{
		"version": num, "type": str, "signer": str, "items": array(rewrapItemShape),
	})
)

// marshal returns the canonical JSON encoding of m. It does not validate m.
func (m *Manifest) marshal() ([]byte, error) {
	w := wireManifest{Version: Version, Type: m.Type.String()}
	if m.Signer != nil {
		w.Signer = m.Signer.String()
	}
	var v any = &w
	switch m.Type {
	case Submissions:
		after, upTo := m.After, m.UpTo
		sources := make([]wireSource, len(m.Sources))
		for i, s := range m.Sources {
			sources[i] = wireSource{ID: hex.EncodeToString(s.ID[:]), ReplyRecipient: s.ReplyRecipient}
		}
		items := make([]wireItem, len(m.Items))
		for i, it := range m.Items {
			items[i] = wireItem{
				ID:     hex.EncodeToString(it.ID[:]),
				Source: hex.EncodeToString(it.Source[:]),
				Kind:   it.Kind.String(),
				Seq:    it.Seq,
				Set:    hex.EncodeToString(it.SetID[:]),
				Day:    it.Day,
				Size:   it.Size,
				SHA256: hex.EncodeToString(it.SHA256[:]),
			}
		}
		w.After, w.UpTo, w.Sources, w.Items = &after, &upTo, &sources, &items
	case Replies:
		replies := make([]wireReply, len(m.Replies))
		for i, r := range m.Replies {
			replies[i] = wireReply{
				ID:     hex.EncodeToString(r.ID[:]),
				Source: hex.EncodeToString(r.Source[:]),
				Size:   r.Size,
				SHA256: hex.EncodeToString(r.SHA256[:]),
			}
		}
		w.Replies = &replies
	case Rewraps:
		rw := &wireRewrapManifest{Version: w.Version, Type: w.Type, Signer: w.Signer,
			Items: make([]wireRewrap, len(m.Rewraps))}
		for i, r := range m.Rewraps {
			rw.Items[i] = wireRewrap{
				ID:     hex.EncodeToString(r.ID[:]),
				Source: hex.EncodeToString(r.Source[:]),
				Set:    hex.EncodeToString(r.SetID[:]),
				Size:   r.Size,
				SHA256: hex.EncodeToString(r.SHA256[:]),
			}
		}
		v = rw
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrWrongType, uint8(m.Type))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("bundle: encoding manifest: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// parseManifest parses and validates a manifest of type typ, signed by
// signer, allowing a total item size of at most maxTotal. It is only ever
// called on manifest bytes whose signature was verified.
func parseManifest(data []byte, typ Type, signer *sign.PublicKey, maxTotal int64) (*Manifest, error) {
	var sh *shape
	switch typ {
	case Submissions:
		sh = submissionsShape
	case Replies:
		sh = repliesShape
	case Rewraps:
		sh = rewrapShape
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrWrongType, uint8(typ))
	}
	if err := checkStrict(data, sh); err != nil {
		return nil, err
	}
	var w wireManifest
	var rw wireRewrapManifest
	var dst any = &w
	if typ == Rewraps {
		dst = &rw
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedManifest, jsonErrorText(err))
	}
	if typ == Rewraps {
		w.Version, w.Type, w.Signer = rw.Version, rw.Type, rw.Signer
	}
	if w.Version != Version {
		return nil, fmt.Errorf("%w: manifest version %d in a version %d bundle", ErrInvalidManifest, w.Version, Version)
	}
	if w.Type != typ.String() {
		return nil, fmt.Errorf("%w: manifest type %q in a bundle of type %s", ErrInvalidManifest, capText(w.Type), typ)
	}
	if signer == nil || w.Signer != signer.String() {
		return nil, fmt.Errorf("%w: manifest signer is not the key that signed the bundle", ErrInvalidManifest)
	}
	m := &Manifest{Type: typ, Signer: signer}
	var err error
	switch typ {
	case Submissions:
		err = m.fromWireSubmissions(&w)
	case Replies:
		err = m.fromWireReplies(&w)
	case Rewraps:
		err = m.fromWireRewrap(&rw)
	}
	if err != nil {
		return nil, err
	}
	if err := m.validate(maxTotal); err != nil {
		return nil, err
	}
	canon, err := m.marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrMalformedManifest)
	}
	return m, nil
}

func (m *Manifest) fromWireSubmissions(w *wireManifest) error {
	m.After, m.UpTo = *w.After, *w.UpTo
	if len(*w.Sources) > MaxItems {
		return fmt.Errorf("%w: more than %d sources", ErrTooLarge, MaxItems)
	}
	if len(*w.Items) > MaxItems {
		return fmt.Errorf("%w: more than %d items", ErrTooLarge, MaxItems)
	}
	m.Sources = make([]Source, len(*w.Sources))
	for i, s := range *w.Sources {
		if err := decodeHex(m.Sources[i].ID[:], s.ID, "source", i, "id"); err != nil {
			return err
		}
		m.Sources[i].ReplyRecipient = s.ReplyRecipient
	}
	m.Items = make([]Item, len(*w.Items))
	for i, wi := range *w.Items {
		it := &m.Items[i]
		if err := decodeHex(it.ID[:], wi.ID, "item", i, "id"); err != nil {
			return err
		}
		if err := decodeHex(it.Source[:], wi.Source, "item", i, "source"); err != nil {
			return err
		}
		if err := decodeHex(it.SetID[:], wi.Set, "item", i, "set"); err != nil {
			return err
		}
		if err := decodeHex(it.SHA256[:], wi.SHA256, "item", i, "sha256"); err != nil {
			return err
		}
		k, ok := parseKind(wi.Kind)
		if !ok {
			return fmt.Errorf("%w: item %d: unknown kind %q", ErrInvalidManifest, i, capText(wi.Kind))
		}
		it.Kind, it.Seq, it.Day, it.Size = k, wi.Seq, wi.Day, wi.Size
	}
	return nil
}

func (m *Manifest) fromWireReplies(w *wireManifest) error {
	if len(*w.Replies) > MaxItems {
		return fmt.Errorf("%w: more than %d replies", ErrTooLarge, MaxItems)
	}
	m.Replies = make([]Reply, len(*w.Replies))
	for i, wr := range *w.Replies {
		r := &m.Replies[i]
		if err := decodeHex(r.ID[:], wr.ID, "reply", i, "id"); err != nil {
			return err
		}
		if err := decodeHex(r.Source[:], wr.Source, "reply", i, "source"); err != nil {
			return err
		}
		if err := decodeHex(r.SHA256[:], wr.SHA256, "reply", i, "sha256"); err != nil {
			return err
		}
		r.Size = wr.Size
	}
	return nil
}

func (m *Manifest) fromWireRewrap(w *wireRewrapManifest) error {
	if len(w.Items) > MaxItems {
		return fmt.Errorf("%w: more than %d items", ErrTooLarge, MaxItems)
	}
	m.Rewraps = make([]Rewrap, len(w.Items))
	for i, wr := range w.Items {
		r := &m.Rewraps[i]
		if err := decodeHex(r.ID[:], wr.ID, "item", i, "id"); err != nil {
			return err
		}
		if err := decodeHex(r.Source[:], wr.Source, "item", i, "source"); err != nil {
			return err
		}
		if err := decodeHex(r.SetID[:], wr.Set, "item", i, "set"); err != nil {
			return err
		}
		if err := decodeHex(r.SHA256[:], wr.SHA256, "item", i, "sha256"); err != nil {
			return err
		}
		r.Size = wr.Size
	}
	return nil
}

// decodeHex decodes lower-case hex of exactly len(dst) bytes.
func decodeHex(dst []byte, s, what string, i int, field string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: %s %d: %s is not %d hex digits", ErrInvalidManifest, what, i, field, 2*len(dst))
	}
	for j := 0; j < len(s); j++ {
		c := s[j]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %s %d: %s is not lower-case hex", ErrInvalidManifest, what, i, field)
		}
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		panic("bundle: hex already checked: " + err.Error())
	}
	return nil
}

// validate checks the rules of the format that do not depend on the
// encoding. Writers and readers apply the same rules.
func (m *Manifest) validate(maxTotal int64) error {
	kind, ok := m.Type.signerKind()
	if !ok {
		return fmt.Errorf("%w: unknown type %d", ErrWrongType, uint8(m.Type))
	}
	if m.Signer == nil || m.Signer.Kind() != kind {
		return fmt.Errorf("%w: a %s bundle must be signed with an %s key", ErrInvalidManifest, m.Type, kind)
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxTotalSize
	}
	switch m.Type {
	case Replies:
		if m.After != 0 || m.UpTo != 0 || len(m.Sources) != 0 || len(m.Items) != 0 || len(m.Rewraps) != 0 {
			return fmt.Errorf("%w: a reply bundle has no cursors, sources, items or rewraps", ErrInvalidManifest)
		}
		return m.validateReplies(maxTotal)
	case Rewraps:
		if m.After != 0 || m.UpTo != 0 || len(m.Sources) != 0 || len(m.Items) != 0 || len(m.Replies) != 0 {
			return fmt.Errorf("%w: a rewrap bundle has no cursors, sources, submitted items or replies", ErrInvalidManifest)
		}
		return m.validateRewraps(maxTotal)
	}
	if len(m.Replies) != 0 || len(m.Rewraps) != 0 {
		return fmt.Errorf("%w: a submissions bundle has no replies or rewraps", ErrInvalidManifest)
	}
	return m.validateSubmissions(maxTotal)
}

func (m *Manifest) validateSubmissions(maxTotal int64) error {
	if len(m.Items) > MaxItems || len(m.Sources) > MaxItems {
		return fmt.Errorf("%w: more than %d items or sources", ErrTooLarge, MaxItems)
	}
	if m.After > m.UpTo {
		return fmt.Errorf("%w: cursor range is reversed", ErrInvalidManifest)
	}
	if uint64(len(m.Items)) > m.UpTo-m.After {
		return fmt.Errorf("%w: more items than cursors in the range", ErrInvalidManifest)
	}
	used := make(map[[32]byte]bool, len(m.Sources))
	for i := range m.Sources {
		s := &m.Sources[i]
		if i > 0 && bytes.Compare(m.Sources[i-1].ID[:], s.ID[:]) >= 0 {
			return fmt.Errorf("%w: source %d: sources not sorted by ID or listed twice", ErrInvalidManifest, i)
		}
		if err := checkRecipient(s.ReplyRecipient); err != nil {
			return fmt.Errorf("%w: source %d: %v", ErrInvalidManifest, i, err)
		}
		used[s.ID] = false
	}
	type seqKey struct {
		src [32]byte
		seq uint64
	}
	seqs := make(map[seqKey]struct{}, len(m.Items))
	var total int64
	for i := range m.Items {
		it := &m.Items[i]
		if i > 0 && bytes.Compare(m.Items[i-1].ID[:], it.ID[:]) >= 0 {
			return fmt.Errorf("%w: item %x: items not sorted by ID or listed twice", ErrInvalidManifest, it.ID)
		}
		if it.Kind != Message && it.Kind != File {
			return fmt.Errorf("%w: item %x: unknown kind %d", ErrInvalidManifest, it.ID, uint8(it.Kind))
		}
		if _, ok := used[it.Source]; !ok {
			return fmt.Errorf("%w: item %x: its source is not listed", ErrInvalidManifest, it.ID)
		}
		used[it.Source] = true
		k := seqKey{it.Source, it.Seq}
		if _, dup := seqs[k]; dup {
			return fmt.Errorf("%w: item %x: sequence number repeated within its source", ErrInvalidManifest, it.ID)
		}
		seqs[k] = struct{}{}
		if err := addSize(&total, it.Size, maxTotal, it.ID); err != nil {
			return err
		}
	}
	for i := range m.Sources {
		if !used[m.Sources[i].ID] {
			return fmt.Errorf("%w: source %d has no items", ErrInvalidManifest, i)
		}
	}
	return nil
}

func (m *Manifest) validateReplies(maxTotal int64) error {
	if len(m.Replies) > MaxItems {
		return fmt.Errorf("%w: more than %d replies", ErrTooLarge, MaxItems)
	}
	var total int64
	for i := range m.Replies {
		r := &m.Replies[i]
		if i > 0 && bytes.Compare(m.Replies[i-1].ID[:], r.ID[:]) >= 0 {
			return fmt.Errorf("%w: reply %x: replies not sorted by ID or listed twice", ErrInvalidManifest, r.ID)
		}
		if err := addSize(&total, r.Size, maxTotal, r.ID); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manifest) validateRewraps(maxTotal int64) error {
	if len(m.Rewraps) > MaxItems {
		return fmt.Errorf("%w: more than %d items", ErrTooLarge, MaxItems)
	}
	var total int64
	for i := range m.Rewraps {
		r := &m.Rewraps[i]
		if i > 0 && bytes.Compare(m.Rewraps[i-1].ID[:], r.ID[:]) >= 0 {
			return fmt.Errorf("%w: item %x: items not sorted by ID or listed twice", ErrInvalidManifest, r.ID)
		}
		if err := addSize(&total, r.Size, maxTotal, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// addSize adds size to *total, refusing a negative size and a total over
// maxTotal (without overflowing).
func addSize(total *int64, size, maxTotal int64, id [16]byte) error {
	if size < 0 {
		return fmt.Errorf("%w: item %x: negative size", ErrInvalidManifest, id)
	}
	if size > maxTotal-*total {
		return fmt.Errorf("%w: items total more than %d bytes", ErrTooLarge, maxTotal)
	}
	*total += size
	return nil
}

// checkRecipient checks the shape of a reply recipient: "age1" followed by
// lower-case letters and digits, at most MaxRecipientSize bytes. Parsing it
// is the client's job.
func checkRecipient(s string) error {
	if len(s) > MaxRecipientSize {
		return fmt.Errorf("reply recipient longer than %d bytes", MaxRecipientSize)
	}
	if !strings.HasPrefix(s, "age1") || len(s) < 8 {
		return fmt.Errorf("reply recipient is not an age recipient")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return fmt.Errorf("reply recipient has a character other than a lower-case letter or digit")
		}
	}
	return nil
}

// capText shortens s for an error message; %q then escapes it.
func capText(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
