package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"sandyq/server/datadir"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// Onion services and their rotation.
//
// sandyq runs two onion services, by role: "source" (the public address)
// and "journalist" (client authorization). Each role has a current service
// and, after a rotation, retiring ones that are still served until their
// grace period ends. Which service is which is one store setting
// (onionStateKey, JSON), changed in one transaction: that is the commit
// point of a rotation. A rotation first makes the new key (a fresh service
// name, so a kill -9 before the commit leaves an orphan key that the next
// start removes), then commits the setting, then publishes; a kill -9 at any
// step leaves the old or the new state in effect, never a mix.

const onionStateKey = "onion.services"

// onionRoles are the roles, in the order their addresses are printed.
var onionRoles = []string{sourceService, journalistService}

type retiring struct {
	Name  string    `json:"name"`
	Until time.Time `json:"until"`
}

type roleState struct {
	Current  string     `json:"current"`
	Retiring []retiring `json:"retiring"`
}

// onionState maps a role to its services. A role without an entry uses the
// service named after it (what sandyq init makes).
type onionState map[string]*roleState

func loadOnionState(st *store.Store) (onionState, error) {
	s := onionState{}
	b, err := st.Setting(onionStateKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%w: onion service state does not decode", store.ErrCorrupt)
		}
	}
	for _, role := range onionRoles {
		if s[role] == nil {
			s[role] = &roleState{Current: role}
		}
	}
	return s, nil
}

func (s onionState) save(st *store.Store) error {
	b, _ := json.Marshal(s)
	return st.PutSetting(onionStateKey, b)
}

// names returns every service name the state refers to.
func (s onionState) names() map[string]bool {
	out := map[string]bool{}
	for _, r := range s {
		out[r.Current] = true
		for _, x := range r.Retiring {
			out[x.Name] = true
		}
	}
	return out
}

// rotatedName matches the names rotations make: role-<8 hex>.
var rotatedName = regexp.MustCompile(`^(source|journalist)-[0-9a-f]{8}$`)

func retiringNames(r *roleState) []string {
	var out []string
	for _, x := range r.Retiring {
		out = append(out, x.Name)
	}
	return out
}

// onionInfo is what "onion show" and "status" print.
type onionInfo struct {
	Role    string    `json:"role"`
	Address string    `json:"address"`
	Current bool      `json:"current"`
	Until   time.Time `json:"until,omitzero"` // retiring: served until then
}

// onionList lists every address from the stored state.
func (o *ops) onionList() []onionInfo {
	s, err := loadOnionState(o.st)
	if err != nil {
		return nil
	}
	dir := o.d.Join(datadir.OnionDir)
	var out []onionInfo
	for _, role := range onionRoles {
		r := s[role]
		if addr, err := onion.KeyAddress(dir, r.Current); err == nil {
			out = append(out, onionInfo{Role: role, Address: addr, Current: true})
		}
		for _, x := range r.Retiring {
			if addr, err := onion.KeyAddress(dir, x.Name); err == nil {
				out = append(out, onionInfo{Role: role, Address: addr, Until: x.Until})
			}
		}
	}
	return out
}

type onionRotateArgs struct {
	Role  string        `json:"role"`
	Grace time.Duration `json:"grace"`
}

// onionRotate gives a role a new address at once; the old one is served
// until the grace period ends.
func (o *ops) onionRotate(ctx context.Context, a onionRotateArgs) (*onionInfo, error) {
	if !slices.Contains(onionRoles, a.Role) {
		return nil, invalidf("no onion role %q (source or journalist)", a.Role)
	}
	if a.Grace < 0 {
		return nil, invalidf("a negative grace period")
	}
	o.onionMu.Lock()
	defer o.onionMu.Unlock()
	if o.onions == nil { // not serving: tidy up after an earlier crash first
		if err := cleanOnions(o.d, o.st, o.now()); err != nil {
			return nil, err
		}
	}
	s, err := loadOnionState(o.st)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	rand.Read(b[:])
	name := a.Role + "-" + hex.EncodeToString(b[:])
	dir := o.d.Join(datadir.OnionDir)
	addr, err := onion.GenerateKey(dir, name, rand.Reader)
	if err != nil {
		return nil, err
	}
	crashPoint("onion-rotate:key-made")
	r := s[a.Role]
	old := r.Current
	r.Current = name
	until := o.now().Add(a.Grace).UTC().Truncate(time.Second)
	r.Retiring = append(r.Retiring, retiring{Name: old, Until: until})
	if err := s.save(o.st); err != nil { // the commit point
		os.RemoveAll(filepath.Join(dir, "services", name))
		return nil, err
	}
	crashPoint("onion-rotate:committed")
	if o.onions != nil {
		if err := o.onions.publish(ctx, a.Role, name); err != nil {
			return nil, fmt.Errorf("the new %s address %s is recorded but could not be published now (it will be at the next start): %w", a.Role, addr, err)
		}
		o.onions.expire(ctx, o) // a grace of 0 retires the old one at once
	}
	return &onionInfo{Role: a.Role, Address: addr, Current: true}, nil
}

// cleanOnions removes what a stopped rotation or an ended grace left: key
// directories of rotated names that the state does not refer to, and
// retiring services whose grace has ended. It runs before tor starts.
func cleanOnions(d *datadir.Dir, st *store.Store, now time.Time) error {
	s, err := loadOnionState(st)
	if err != nil {
		return err
	}
	changed := false
	for _, r := range s {
		keep := r.Retiring[:0]
		for _, x := range r.Retiring {
			if now.Before(x.Until) {
				keep = append(keep, x)
			} else {
				changed = true
			}
		}
		r.Retiring = keep
	}
	if changed {
		if err := s.save(st); err != nil {
			return err
		}
	}
	live := s.names()
	ents, err := os.ReadDir(d.Join(datadir.OnionDir, "services"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if live[n] || (!rotatedName.MatchString(n) && !slices.Contains(onionRoles, n)) {
			continue
		}
		if err := os.RemoveAll(d.Join(datadir.OnionDir, "services", n)); err != nil {
			return err
		}
	}
	return nil
}

// onionManager publishes and retires the onion services of a running
// server, and feeds their connections to the HTTP servers.
type onionManager struct {
	e    *env
	d    *datadir.Dir
	st   *store.Store
	tor  *onion.Tor
	src  chan net.Listener // listeners for the source web server
	jmux *muxListener
	reg  interface{ OnionKeys() []onion.ClientKey }

	mu       sync.Mutex
	services map[string]*onion.Service // by name
	roles    map[string]string         // name → role
}

// publish publishes one service of a role. A journalist service needs at
// least one registered journalist; without one it waits for the first.
func (m *onionManager) publish(ctx context.Context, role, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.services[name]; ok {
		return nil
	}
	opts := onion.ServiceOptions{Name: name, MaxStreams: 20}
	if role == sourceService {
		opts.PoW, opts.IntroRate, opts.IntroBurst = true, 25, 200
	} else {
		keys := m.reg.OnionKeys()
		if len(keys) == 0 {
			m.roles[name] = role
			return nil
		}
		opts.ClientAuth, opts.Clients = true, keys
	}
	svc, err := m.tor.Publish(ctx, opts)
	if err != nil {
		return err
	}
	m.services[name] = svc
	m.roles[name] = role
	if role == sourceService {
		m.src <- svc.Listener()
	} else {
		go m.jmux.feed(svc.Listener())
	}
	return nil
}

// setJournalistAuth gives every journalist service the current keys,
// publishing those that waited for a first journalist.
func (m *onionManager) setJournalistAuth(ctx context.Context, keys []onion.ClientKey) error {
	m.mu.Lock()
	var waiting []string
	var svcs []*onion.Service
	for name, role := range m.roles {
		if role != journalistService {
			continue
		}
		if svc, ok := m.services[name]; ok {
			svcs = append(svcs, svc)
		} else {
			waiting = append(waiting, name)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, svc := range svcs {
		errs = append(errs, svc.SetClientAuth(ctx, keys))
	}
	for _, name := range waiting {
		errs = append(errs, m.publish(ctx, journalistService, name))
	}
	return errors.Join(errs...)
}

// expire withdraws and deletes the retiring services whose grace ended.
func (m *onionManager) expire(ctx context.Context, o *ops) {
	s, err := loadOnionState(m.st)
	if err != nil {
		return
	}
	now := o.now()
	var gone []string
	for _, r := range s {
		keep := r.Retiring[:0]
		for _, x := range r.Retiring {
			if now.Before(x.Until) {
				keep = append(keep, x)
			} else {
				gone = append(gone, x.Name)
			}
		}
		r.Retiring = keep
	}
	if len(gone) == 0 {
		return
	}
	if err := s.save(m.st); err != nil { // committed: the keys go next
		warnf(m.e, "retiring onion services: %v", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range gone {
		if svc, ok := m.services[name]; ok {
			svc.Close()
			delete(m.services, name)
		}
		delete(m.roles, name)
		if err := m.tor.RemoveKeys(name); err != nil {
			warnf(m.e, "removing a retired onion key: %v", err)
		}
		infof(m.e, "a retired %s onion address is no longer served", strings.SplitN(name, "-", 2)[0])
	}
}
