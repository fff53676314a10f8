package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sandyq/client/accesskey"
	"sandyq/server/datadir"
	"sandyq/server/journalists"
	"sandyq/server/keyring"
	"sandyq/server/onion"
	"sandyq/server/store"
)

// ops are the admin operations. The same code runs in two places: inside
// "sandyq serve", reached through the control socket, and in "sandyq admin"
// on a store it opened itself when no server runs. Results are plain values
// that travel as JSON over the socket.
type ops struct {
	d   *datadir.Dir
	st  *store.Store
	reg *journalists.Registry
	kr  *keyring.Keyring // nil when no newsroom key is pinned
	now func() time.Time
	// onionAuth gives the journalist onion its new list of client keys and
	// returns once tor has published it. Nil when no onion is served (admin
	// on a stopped server, or development mode): the next start uses the
	// registry.
	onionAuth func(ctx context.Context, keys []onion.ClientKey) error
	serving   bool          // inside sandyq serve
	onions    *onionManager // nil unless serving over tor
	onionMu   sync.Mutex    // serialises rotations
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

// setInfo is what the admin sees of a recipient set.
type setInfo struct {
	ID         string    `json:"id"`
	State      string    `json:"state"` // "in force", "valid", "future", "expired"
	Kind       string    `json:"kind"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	Recipients []string  `json:"recipients"`
	Items      int       `json:"items"` // items on the server encrypted to it (status only)
}

func (o *ops) setInfo(s *keyring.Set, cur *keyring.Set) setInfo {
	now := o.now()
	state := "future"
	switch {
	case cur != nil && s.ID == cur.ID:
		state = "in force"
	case !now.Before(s.NotAfter):
		state = "expired"
	case s.ValidAt(now):
		state = "valid"
	}
	return setInfo{ID: s.IDString(), State: state, Kind: string(s.Kind), NotBefore: s.NotBefore,
		NotAfter: s.NotAfter, Recipients: s.Signed.Recipients}
}

func (o *ops) keyring() (*keyring.Keyring, error) {
	if o.kr == nil {
		return nil, errors.New("no newsroom key is pinned: run \"sandyq admin newsroom pin PUB\" first")
	}
	return o.kr, nil
}

type recipientsInstallArgs struct {
	Sets  []string `json:"sets"`  // signed statements, as the files hold them
	Names []string `json:"names"` // what to call each in messages (file names)
}

func (a recipientsInstallArgs) name(i int) string {
	if i < len(a.Names) {
		return fmt.Sprintf("%q", a.Names[i])
	}
	return strconv.Itoa(i + 1)
}

// recipientsInstall verifies every set against the pinned newsroom key,
// then installs them: a bad set in a schedule installs nothing. Each set
// is one store transaction; uploads in flight keep the set they started
// with.
func (o *ops) recipientsInstall(_ context.Context, a recipientsInstallArgs) ([]setInfo, error) {
	kr, err := o.keyring()
	if err != nil {
		return nil, err
	}
	if len(a.Sets) == 0 {
		return nil, invalidf("no recipient set given")
	}
	raws := make([][]byte, len(a.Sets))
	for i, raw := range a.Sets {
		if _, err := kr.Verify([]byte(raw)); err != nil {
			return nil, invalidf("recipient set %s: %v (nothing was installed)", a.name(i), err)
		}
		raws[i] = []byte(raw)
	}
	crashPoint("recipients-install:verified")
	sets, err := kr.InstallAll(raws)
	if err != nil {
		return nil, err
	}
	crashPoint("recipients-install:installed")
	cur, _ := kr.Current()
	var out []setInfo
	for _, s := range sets {
		out = append(out, o.setInfo(s, cur))
	}
	return out, nil
}

type recipientsList struct {
	Sets    []setInfo `json:"sets"`
	InForce string    `json:"in_force"` // "" when none: the form is closed
}

func (o *ops) recipientsShow(context.Context, struct{}) (*recipientsList, error) {
	kr, err := o.keyring()
	if err != nil {
		return nil, err
	}
	cur, _ := kr.Current()
	l := &recipientsList{}
	if cur != nil {
		l.InForce = cur.IDString()
	}
	for _, s := range kr.All() {
		l.Sets = append(l.Sets, o.setInfo(s, cur))
	}
	return l, nil
}

// statusInfo is "sandyq admin status": counts, sizes, keys and addresses;
// nothing about any source.
type statusInfo struct {
	Serving     bool        `json:"serving"`
	Stats       store.Stats `json:"stats"`
	DiskFree    int64       `json:"disk_free"`
	InstanceKey string      `json:"instance_key"`
	Onions      []onionInfo `json:"onions"`
	InForce     string      `json:"in_force"`
	Sets        []setInfo   `json:"sets"`
	Retention   int         `json:"retention_days"` // 0: keep until deleted
	Journalists int         `json:"journalists"`
}

func (o *ops) status(ctx context.Context, _ struct{}) (*statusInfo, error) {
	stats, err := o.st.Stats()
	if err != nil {
		return nil, err
	}
	si := &statusInfo{Serving: o.serving, Stats: stats, Journalists: len(o.reg.List())}
	if free, err := diskFree(o.d.Path()); err == nil {
		si.DiskFree = int64(free)
	}
	if inst, err := o.d.InstanceKey(); err == nil {
		si.InstanceKey = inst.Public().String()
	}
	si.Onions = o.onionList()
	if l, err := o.recipientsShow(ctx, struct{}{}); err == nil {
		si.InForce, si.Sets = l.InForce, l.Sets
		// Items per set: when an old epoch has none left here (fetched and
		// deleted, or rewrapped), nothing on the server needs its identity.
		if items, err := o.st.ListItems(0, 0); err == nil {
			count := map[string]int{}
			for _, it := range items {
				count[hex.EncodeToString(it.SetID[:])]++
			}
			for i := range si.Sets {
				si.Sets[i].Items = count[si.Sets[i].ID]
			}
		}
	}
	si.Retention, _ = retentionDays(o.st)
	return si, nil
}

func (o *ops) check(context.Context, struct{}) (string, error) {
	if err := o.st.Check(); err != nil {
		return "", fmt.Errorf("check found problems:\n%w", err)
	}
	return "no problems found", nil
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

// retentionKey is the setting holding the retention period in days.
const retentionKey = "retention.days"

// retentionDays returns the retention period (0: keep until deleted).
func retentionDays(st *store.Store) (int, error) {
	b, err := st.Setting(retentionKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: retention setting", store.ErrCorrupt)
	}
	return n, nil
}

type retentionArgs struct {
	Days int `json:"days"` // 0: keep until deleted
}

type retentionResult struct {
	Days    int `json:"days"`
	Deleted int `json:"deleted"` // items deleted at once
}

// retentionSet sets the retention period and applies it at once: fetched
// items older than it are deleted (and deleted again by the server every
// hour). Items nobody fetched are never deleted by retention.
func (o *ops) retentionSet(_ context.Context, a retentionArgs) (*retentionResult, error) {
	if a.Days < 0 || a.Days > 36500 {
		return nil, invalidf("retention must be 0 (keep) to 36500 days")
	}
	if err := o.st.PutSetting(retentionKey, []byte(strconv.Itoa(a.Days))); err != nil {
		return nil, err
	}
	n, err := o.purge()
	return &retentionResult{Days: a.Days, Deleted: n}, err
}

// purge deletes the fetched items older than the retention period.
func (o *ops) purge() (int, error) {
	days, err := retentionDays(o.st)
	if err != nil || days == 0 {
		return 0, err
	}
	today := day(o.now())
	n := 0
	for after := uint64(0); ; {
		items, err := o.st.ListItems(after, 1000)
		if err != nil {
			return n, err
		}
		if len(items) == 0 {
			return n, nil
		}
		for _, it := range items {
			after = it.Cursor
			if it.Fetched && uint64(it.Day)+uint64(days) <= uint64(today) {
				if err := o.st.DeleteItem(it.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return n, err
				}
				n++
			}
		}
	}
}

// janitor runs the server's periodic work: retention, and retiring onion
// addresses whose grace ended. Every minute; retention at most hourly.
func janitor(ctx context.Context, e *env, o *ops) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var lastPurge time.Time
	for {
		if time.Since(lastPurge) >= time.Hour {
			lastPurge = time.Now()
			if n, err := o.purge(); err != nil {
				warnf(e, "retention: %v", err)
			} else if n > 0 {
				infof(e, "retention: deleted %d fetched items", n)
			}
		}
		if o.onions != nil {
			o.onionMu.Lock()
			o.onions.expire(ctx, o)
			o.onionMu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// opError is an admin operation's refusal of its input: its message goes
// to the admin as is, with the control code "invalid".
type opError struct{ msg string }

func (e *opError) Error() string { return e.msg }

func invalidf(format string, args ...any) error { return &opError{fmt.Sprintf(format, args...)} }

// crashPointEnv names the crash point at which the process kills itself
// with SIGKILL: the kill -9 tests use it to stop a rotation exactly
// between two of its steps. Unset (always, outside those tests), it does
// nothing.
const crashPointEnv = "SANDYQ_TEST_CRASH_AT"

func crashPoint(name string) {
	if os.Getenv(crashPointEnv) == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
