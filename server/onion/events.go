package onion

import (
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
)

// events follows HS_DESC events on a second control connection, so that
// waiting for a descriptor upload never blocks the command connection.
//
// Every event gets a sequence number. [events.mark] returns the number
// reached once every event tor emitted before the call has been read (it
// sends a request on the event connection and waits for its reply, which
// tor orders after those events). [events.waitUpload] then waits for the
// uploads of a service launched after the mark.
type events struct {
	c   net.Conn
	wmu sync.Mutex // serialises writes to c

	mu      sync.Mutex
	seq     int                  // events read so far
	replies int                  // synchronous replies read so far
	sent    int                  // synchronous requests written so far (under wmu and mu)
	uploads map[string][]*upload // service ID -> uploads in launch order
	changed chan struct{}        // closed and replaced at every change
	err     error                // why the loop ended, once it has
}

// upload is an HS_DESC event about one descriptor upload to one
// directory: a launch (UPLOAD), or a result (UPLOADED, FAILED).
type upload struct {
	hsdir  string
	seq    int    // sequence number of the event
	result bool   // UPLOADED or FAILED, not UPLOAD
	ok     bool   // UPLOADED
	reason string // FAILED's REASON= (tor's fixed vocabulary)
}

// watchEvents opens the event connection and starts reading it.
func watchEvents(ctx context.Context, sock string) (*events, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("onion: event connection: %w", err)
	}
	conn := control.NewConn(textproto.NewConn(c))
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	if err := conn.Authenticate(""); err != nil {
		c.Close()
		return nil, fmt.Errorf("onion: event connection: %w", err)
	}
	if _, err := conn.SendRequest("SETEVENTS HS_DESC"); err != nil {
		c.Close()
		return nil, fmt.Errorf("onion: event connection: %w", err)
	}
	c.SetDeadline(time.Time{})
	e := &events{c: c, uploads: map[string][]*upload{}, changed: make(chan struct{})}
	go e.loop(conn)
	return e, nil
}

// notify wakes every waiter. The caller holds mu.
func (e *events) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

func (e *events) loop(conn *control.Conn) {
	for {
		resp, err := conn.ReadResponse()
		e.mu.Lock()
		switch {
		case err != nil:
			e.err = err
		case !resp.IsAsync():
			e.replies++
		default:
			e.seq++
			e.record(resp.Reply)
		}
		e.notify()
		e.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// record notes one HS_DESC event: "HS_DESC ACTION ADDRESS AUTH HSDIR …".
// The caller holds mu.
func (e *events) record(line string) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "HS_DESC" {
		return
	}
	id, hsdir := f[2], f[4]
	switch f[1] {
	case "UPLOAD", "UPLOADED", "FAILED":
	default:
		return
	}
	u := &upload{hsdir: hsdir, seq: e.seq, result: f[1] != "UPLOAD", ok: f[1] == "UPLOADED"}
	for _, kv := range f[5:] {
		if r, ok := strings.CutPrefix(kv, "REASON="); ok && f[1] == "FAILED" {
			u.reason = r
		}
	}
	us := append(e.uploads[id], u)
	if len(us) > 256 { // keep the list short: waiters look at recent events
		us = us[len(us)-128:]
	}
	e.uploads[id] = us
}

// mark returns the sequence number of the last event tor emitted before
// this call.
func (e *events) mark(ctx context.Context) (int, error) {
	e.wmu.Lock()
	e.mu.Lock()
	e.sent++
	want := e.sent
	e.mu.Unlock()
	e.c.SetWriteDeadline(time.Now().Add(requestTimeout))
	_, err := e.c.Write([]byte("GETINFO version\r\n"))
	e.wmu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("onion: event connection: %w", err)
	}
	for {
		e.mu.Lock()
		seq, replies, ch, err := e.seq, e.replies, e.changed, e.err
		e.mu.Unlock()
		if replies >= want {
			return seq, nil
		}
		if err != nil {
			return 0, fmt.Errorf("onion: event connection lost: %w", err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("onion: event connection: %w", ctx.Err())
		case <-ch:
		}
	}
}

// uploadGrace is how long waitUpload waits for the other directories once
// one has accepted the descriptor.
const uploadGrace = 15 * time.Second

// waitUpload waits until tor has launched at least one upload of service
// id after mark, every directory it launched one to has answered since,
// and at least one accepted: then every directory tor chose holds the new
// descriptor, or refused it. (Tor uploads the descriptors of two time
// periods, often to the same directory, and may report one result for
// both: results are counted per directory.) Once one directory has
// accepted, the others get uploadGrace to answer.
func (e *events) waitUpload(ctx context.Context, id string, mark int) error {
	var grace <-chan time.Time
	for {
		e.mu.Lock()
		first := map[string]int{} // directory -> its first launch after mark
		answered := map[string]bool{}
		ok := false
		reason := ""
		for _, u := range e.uploads[id] {
			if u.seq <= mark {
				continue
			}
			if !u.result {
				if _, seen := first[u.hsdir]; !seen {
					first[u.hsdir] = u.seq
				}
				continue
			}
			if launch, seen := first[u.hsdir]; seen && u.seq > launch {
				answered[u.hsdir] = true
				ok = ok || u.ok
				if u.reason != "" {
					reason = u.reason
				}
			}
		}
		ch, err := e.changed, e.err
		e.mu.Unlock()
		if len(first) > 0 && len(answered) == len(first) && ok {
			return nil
		}
		if ok && grace == nil {
			// A directory that never answers must not stall us for ever:
			// once one has the descriptor, give the others a while.
			grace = time.After(uploadGrace)
		}
		if err != nil {
			return fmt.Errorf("onion: event connection lost: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("onion: waiting for the descriptor upload (%d of %d directories answered, accepted: %v, last refusal: %q): %w",
				len(answered), len(first), ok, reason, ctx.Err())
		case <-grace:
			return nil
		case <-ch:
		}
	}
}

func (e *events) close() { e.c.Close() }
