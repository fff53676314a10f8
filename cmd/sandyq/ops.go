package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"sandyq/client/accesskey"
	"sandyq/server/journalists"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// ops are the admin operations. The same code runs in two places: inside
// "sandyq serve", reached through the control socket, and in "sandyq admin"
// on a store it opened itself when no server runs. Results are plain values
// that travel as JSON over the socket.
type ops struct {
	st  *store.Store
	reg *journalists.Registry
	now func() time.Time
	// onionAuth gives the journalist onion its new list of client keys and
	// returns once tor has published it. Nil when no onion is served (admin
	// on a stopped server, or development mode): the next start uses the
	// registry.
	onionAuth func(ctx context.Context, keys []onion.ClientKey) error
}

// journalistInfo is what the admin sees of a journalist.
type journalistInfo struct {
	Name      string `json:"name"`
	Access    string `json:"access"`
	OnionAuth string `json:"onion_auth"`
	Added     uint32 `json:"added"`
	Cursor    uint64 `json:"cursor"`
	LastFetch uint32 `json:"last_fetch"`
}

func infoOf(j *journalists.Journalist) journalistInfo {
	return journalistInfo{Name: j.Name, Access: j.Access.String(), OnionAuth: j.OnionAuth.String(),
		Added: j.Added, Cursor: j.Cursor, LastFetch: j.LastFetch}
}

type journalistAddArgs struct {
	Name   string `json:"name"`
	Public string `json:"public"` // the two lines "sandyq-client access-key" printed
}

type journalistNameArgs struct {
	Name string `json:"name"`
}

// journalistAdd registers a journalist and, when serving, lets the new
// onion key read the journalist onion's descriptor.
func (o *ops) journalistAdd(ctx context.Context, a journalistAddArgs) (*journalistInfo, error) {
	pub, err := accesskey.ParsePublic(a.Public)
	if err != nil {
		return nil, err
	}
	j, err := o.reg.Add(a.Name, pub.Access, onion.ClientKey(pub.OnionAuth), day(o.now()))
	if err != nil {
		return nil, err
	}
	info := infoOf(j)
	if err := o.updateOnion(ctx); err != nil {
		return &info, fmt.Errorf("registered %s, but the journalist onion was not updated: %w", j.Name, err)
	}
	return &info, nil
}

// journalistRevoke removes a journalist: the API refuses the key from
// this moment, and the journalist onion is republished without the onion
// key before this returns.
func (o *ops) journalistRevoke(ctx context.Context, a journalistNameArgs) (*journalistInfo, error) {
	j, err := o.reg.Revoke(a.Name)
	if err != nil {
		return nil, err
	}
	info := infoOf(j)
	if err := o.updateOnion(ctx); err != nil {
		return &info, fmt.Errorf("revoked %s from the API, but the journalist onion still lets the key in: %w (restart sandyq serve)", j.Name, err)
	}
	return &info, nil
}

func (o *ops) journalistList() []journalistInfo {
	var out []journalistInfo
	for _, j := range o.reg.List() {
		out = append(out, infoOf(&j))
	}
	return out
}

func (o *ops) updateOnion(ctx context.Context) error {
	if o.onionAuth == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return o.onionAuth(ctx, o.reg.OnionKeys())
}

func day(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

func dayString(d uint32) string {
	if d == 0 {
		return "never"
	}
	return time.Unix(int64(d)*86400, 0).UTC().Format("2006-01-02")
}

// isNotFound reports whether err means "no such thing" in any of the
// packages ops calls.
func isNotFound(err error) bool {
	return errors.Is(err, journalists.ErrNotFound) || errors.Is(err, store.ErrNotFound)
}

// printJournalists prints the list for the admin.
func printJournalists(e *env, list []journalistInfo) {
	if len(list) == 0 {
		infof(e, "no journalist is registered")
		return
	}
	for _, j := range list {
		fmt.Fprintf(e.stdout, "%-20s added %s  last fetch %s  cursor %d\n    access: %s\n    onion-auth: %s\n",
			j.Name, dayString(j.Added), dayString(j.LastFetch), j.Cursor, j.Access, strings.ToUpper(j.OnionAuth))
	}
}
