// Package journalists is the server's registry of journalists: who may use
// the journalist API (an Ed25519 access key) and reach the journalist onion
// (an x25519 onion client-authorization key), and how far each has fetched.
//
// Records live in the store (bucket "journalists", one JSON record per
// journalist, keyed by the access key in hex). The registry keeps them in
// memory too, so that checking a request costs no store read, and every
// change goes to the store first: a revoked journalist is gone from memory
// only after the store said so, and from the API at that moment.
package journalists

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"sandyq/crypto/sign"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// Errors returned by the registry.
var (
	ErrExists   = errors.New("journalist already registered")
	ErrNotFound = errors.New("no such journalist")
	ErrInvalid  = errors.New("invalid journalist")
)

// MaxName is the longest journalist name.
const MaxName = 64

// Journalist is one registered journalist. Name is the admin's label.
type Journalist struct {
	Name      string
	Access    *sign.PublicKey
	OnionAuth onion.ClientKey
	Added     uint32 // UTC day
	Cursor    uint64 // acknowledged fetch position (see docs/format.md)
	LastFetch uint32 // UTC day of the last acknowledged fetch, 0: never
}

// record is the stored form.
type record struct {
	Name      string `json:"name"`
	Access    string `json:"access"`
	OnionAuth string `json:"onion_auth"`
	Added     uint32 `json:"added"`
	Cursor    uint64 `json:"cursor"`
	LastFetch uint32 `json:"last_fetch"`
}

// Registry is the set of journalists, backed by a store. Its methods are
// safe for concurrent use.
type Registry struct {
	st *store.Store
	mu sync.Mutex
	by map[[32]byte]*Journalist // by access key
}

// Load reads every journalist from st.
func Load(st *store.Store) (*Registry, error) {
	all, err := st.Journalists()
	if err != nil {
		return nil, fmt.Errorf("reading journalists: %w", err)
	}
	r := &Registry{st: st, by: map[[32]byte]*Journalist{}}
	for id, raw := range all {
		j, err := decode(raw)
		if err != nil || keyID(j.Access) != id {
			return nil, fmt.Errorf("reading journalists: %w: a record does not decode", store.ErrCorrupt)
		}
		r.by[[32]byte(j.Access.Bytes())] = j
	}
	return r, nil
}

func keyID(k *sign.PublicKey) string { return hex.EncodeToString(k.Bytes()) }

func decode(raw []byte) (*Journalist, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	k, err := sign.ParsePublicKey(rec.Access, sign.Access)
	if err != nil {
		return nil, err
	}
	ok, err := onion.ParseClientKey(rec.OnionAuth)
	if err != nil {
		return nil, err
	}
	return &Journalist{Name: rec.Name, Access: k, OnionAuth: ok, Added: rec.Added, Cursor: rec.Cursor, LastFetch: rec.LastFetch}, nil
}

func encode(j *Journalist) []byte {
	b, _ := json.Marshal(record{Name: j.Name, Access: j.Access.String(), OnionAuth: j.OnionAuth.String(),
		Added: j.Added, Cursor: j.Cursor, LastFetch: j.LastFetch})
	return b
}

// ValidName reports whether name is a usable label: 1 to 64 ASCII letters,
// digits, '.', '_' or '-', starting with a letter or digit.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxName {
		return false
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// Add registers a journalist. The name, the access key and the onion key
// must each be unused.
func (r *Registry) Add(name string, access *sign.PublicKey, auth onion.ClientKey, day uint32) (*Journalist, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: a name is 1 to %d letters, digits, '.', '_' or '-'", ErrInvalid, MaxName)
	}
	if access == nil || access.Kind() != sign.Access {
		return nil, fmt.Errorf("%w: not an access key", ErrInvalid)
	}
	if auth == (onion.ClientKey{}) {
		return nil, fmt.Errorf("%w: empty onion key", ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.by {
		switch {
		case j.Name == name:
			return nil, fmt.Errorf("%w: the name %s is taken", ErrExists, name)
		case j.Access.Equal(access):
			return nil, fmt.Errorf("%w: this access key belongs to %s", ErrExists, j.Name)
		case j.OnionAuth == auth:
			return nil, fmt.Errorf("%w: this onion key belongs to %s", ErrExists, j.Name)
		}
	}
	j := &Journalist{Name: name, Access: access, OnionAuth: auth, Added: day}
	if err := r.st.PutJournalist(keyID(access), encode(j)); err != nil {
		return nil, err
	}
	r.by[[32]byte(access.Bytes())] = j
	c := *j
	return &c, nil
}

// List returns every journalist, by name.
func (r *Registry) List() []Journalist {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Journalist, 0, len(r.by))
	for _, j := range r.by {
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b Journalist) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Find returns the journalist named name, or whose access key's text form
// is name.
func (r *Registry) Find(name string) (*Journalist, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j := r.find(name)
	if j == nil {
		return nil, ErrNotFound
	}
	c := *j
	return &c, nil
}

func (r *Registry) find(name string) *Journalist {
	for _, j := range r.by {
		if j.Name == name || j.Access.String() == name {
			return j
		}
	}
	return nil
}

// Revoke removes the journalist named name (or with that access key). From
// the moment it returns, Lookup no longer finds the key; the caller removes
// the onion key from the service (OnionKeys no longer lists it).
func (r *Registry) Revoke(name string) (*Journalist, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j := r.find(name)
	if j == nil {
		return nil, ErrNotFound
	}
	if err := r.st.DeleteJournalist(keyID(j.Access)); err != nil {
		return nil, err
	}
	delete(r.by, [32]byte(j.Access.Bytes()))
	return j, nil
}

// Lookup returns the journalist with this access key.
func (r *Registry) Lookup(access *sign.PublicKey) (*Journalist, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.by[[32]byte(access.Bytes())]
	if !ok {
		return nil, false
	}
	c := *j
	return &c, true
}

// Acknowledge records that the journalist holds everything up to cursor.
// The cursor never decreases.
func (r *Registry) Acknowledge(access *sign.PublicKey, cursor uint64, day uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.by[[32]byte(access.Bytes())]
	if !ok {
		return ErrNotFound
	}
	n := *j
	n.Cursor = max(n.Cursor, cursor)
	n.LastFetch = day
	if err := r.st.PutJournalist(keyID(access), encode(&n)); err != nil {
		return err
	}
	*j = n
	return nil
}

// OnionKeys returns every journalist's onion client-authorization key, for
// the journalist onion service.
func (r *Registry) OnionKeys() []onion.ClientKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]onion.ClientKey, 0, len(r.by))
	for _, j := range r.by {
		out = append(out, j.OnionAuth)
	}
	slices.SortFunc(out, func(a, b onion.ClientKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}
