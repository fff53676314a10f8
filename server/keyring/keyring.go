// Package keyring decides which recipient set the server encrypts to.
//
// The newsroom signs recipient sets offline (sandyq-client recipients sign)
// with its Ed25519 key; the server pins the newsroom's public key at init.
// A set is only ever installed, and only ever used, after its signature
// verifies against that pinned key — including every time the server starts,
// so a set slipped into the store by someone without the newsroom key is
// refused rather than used.
//
// Every set has a validity window [NotBefore, NotAfter). Several sets can be
// installed at once; this is how an epoch schedule works: the newsroom signs
// a series of sets with consecutive windows, the admin installs them all, and
// the server switches from one to the next on its own at each boundary. The
// set in force at time t is, among the sets valid at t, the one with the
// latest NotBefore (ties broken by the larger ID, so the choice is the same
// on every start).
//
// An upload takes the set in force when it starts ([Keyring.Current]) and
// keeps it to the end, so a rotation never mixes sets within one item.
package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"filippo.io/age"

	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
	"sandyq/server/store"
)

// ErrNoSet is returned by Current when no installed set is valid now.
var ErrNoSet = errors.New("no valid recipient set is installed")

// Set is a verified recipient set ready to encrypt to.
type Set struct {
	*recipients.Signed
	Recipients []age.Recipient
}

// Keyring holds the verified recipient sets of one store. It is safe for
// concurrent use.
type Keyring struct {
	store    *store.Store
	newsroom *sign.PublicKey
	now      func() time.Time

	mu   sync.Mutex // guards sets
	sets []*Set     // sorted by NotBefore, then ID
}

// New loads and verifies every set installed in st. A set whose signature
// does not verify against newsroom is an error: the store has been tampered
// with or the pinned key changed, and the admin must look.
func New(st *store.Store, newsroom *sign.PublicKey, now func() time.Time) (*Keyring, error) {
	if now == nil {
		now = time.Now
	}
	k := &Keyring{store: st, newsroom: newsroom, now: now}
	raws, err := st.RecipientSets()
	if err != nil {
		return nil, fmt.Errorf("loading recipient sets: %w", err)
	}
	for id, raw := range raws {
		s, err := verify(raw, newsroom)
		if err != nil {
			return nil, fmt.Errorf("recipient set %x in the store: %w", id, err)
		}
		if s.ID != id {
			return nil, fmt.Errorf("recipient set %x in the store is stored under the wrong ID", id)
		}
		k.sets = append(k.sets, s)
	}
	k.sort()
	return k, nil
}

func verify(raw []byte, newsroom *sign.PublicKey) (*Set, error) {
	if newsroom == nil {
		return nil, errors.New("no newsroom key is pinned")
	}
	signed, err := recipients.Parse(raw, newsroom)
	if err != nil {
		return nil, err
	}
	rs, err := signed.AgeRecipients()
	if err != nil {
		return nil, err
	}
	return &Set{Signed: signed, Recipients: rs}, nil
}

func (k *Keyring) sort() {
	sort.Slice(k.sets, func(i, j int) bool {
		a, b := k.sets[i], k.sets[j]
		if !a.NotBefore.Equal(b.NotBefore) {
			return a.NotBefore.Before(b.NotBefore)
		}
		return bytes.Compare(a.ID[:], b.ID[:]) < 0
	})
}

// Verify checks a signed set as Install would, without storing it: the
// signature against the pinned key, the recipients, and that it has not
// expired. A set whose window starts in the future is accepted (that is an
// epoch schedule).
func (k *Keyring) Verify(raw []byte) (*Set, error) {
	s, err := verify(raw, k.newsroom)
	if err != nil {
		return nil, err
	}
	if !k.now().Before(s.NotAfter) {
		return nil, fmt.Errorf("recipient set %s expired at %s", s.IDString(), s.NotAfter.Format(time.RFC3339))
	}
	return s, nil
}

// Install verifies a signed set (see Verify) and stores it. Installing the
// same set twice is harmless.
func (k *Keyring) Install(raw []byte) (*Set, error) {
	sets, err := k.InstallAll([][]byte{raw})
	if err != nil {
		return nil, err
	}
	return sets[0], nil
}

// InstallAll verifies every set, then stores them all in one store
// transaction (all or none: a schedule of epochs is never half installed,
// even by a kill -9), then makes them available. Sets already installed
// with the same bytes are accepted as they are.
func (k *Keyring) InstallAll(raws [][]byte) ([]*Set, error) {
	var sets []*Set
	var recs []store.RecipientSetRecord
	for _, raw := range raws {
		s, err := k.Verify(raw)
		if err != nil {
			return nil, err
		}
		sets = append(sets, s)
		recs = append(recs, store.RecipientSetRecord{ID: s.ID, Raw: s.Raw})
	}
	if err := k.store.PutRecipientSets(recs); errors.Is(err, store.ErrExists) {
		return nil, errors.New("installing recipient sets: another set with the same ID is installed")
	} else if err != nil {
		return nil, fmt.Errorf("installing recipient sets: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*Set, len(sets))
next:
	for i, s := range sets {
		for _, old := range k.sets {
			if old.ID == s.ID {
				out[i] = old
				continue next
			}
		}
		k.sets = append(k.sets, s)
		out[i] = s
	}
	k.sort()
	return out, nil
}

// Current returns the set in force now, or ErrNoSet.
func (k *Keyring) Current() (*Set, error) {
	return k.At(k.now())
}

// At returns the set in force at t, or ErrNoSet.
func (k *Keyring) At(t time.Time) (*Set, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.sets) - 1; i >= 0; i-- {
		if k.sets[i].ValidAt(t) {
			return k.sets[i], nil
		}
	}
	return nil, ErrNoSet
}

// All returns every installed set, oldest window first.
func (k *Keyring) All() []*Set {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]*Set(nil), k.sets...)
}

// ByID returns the installed set with the given ID, whether or not it is
// valid now (items record the set they were encrypted to).
func (k *Keyring) ByID(id [16]byte) (*Set, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.sets {
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}
