package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sandyq/crypto/sign"
	"sandyq/server/control"
	"sandyq/server/datadir"
	"sandyq/server/journalists"
	"sandyq/server/keyring"
	"sandyq/server/store"
)

// Control operations: "sandyq serve" answers them on DIR/control.sock;
// "sandyq admin" sends them there, or runs them itself on the store when
// no server runs.
const (
	opJournalistAdd     = "journalist.add"
	opJournalistList    = "journalist.list"
	opJournalistRevoke  = "journalist.revoke"
	opRecipientsInstall = "recipients.install"
	opRecipientsShow    = "recipients.show"
	opStatus            = "status"
	opCheck             = "check"
	opOnionShow         = "onion.show"
	opOnionRotate       = "onion.rotate"
	opRetentionSet      = "retention.set"
)

// listenControl opens the control socket of a running server and serves
// the admin operations on it.
func listenControl(ctx context.Context, e *env, d *datadir.Dir, o *ops) (*control.Server, error) {
	srv, err := control.Listen(d.Join(datadir.ControlSocket), control.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))))
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	handle(srv, opJournalistAdd, o.journalistAdd)
	handle(srv, opJournalistRevoke, o.journalistRevoke)
	handle(srv, opJournalistList, func(context.Context, struct{}) ([]journalistInfo, error) {
		return o.journalistList(), nil
	})
	handle(srv, opRecipientsInstall, o.recipientsInstall)
	handle(srv, opRecipientsShow, o.recipientsShow)
	handle(srv, opStatus, o.status)
	handle(srv, opCheck, o.check)
	handle(srv, opOnionShow, func(context.Context, struct{}) ([]onionInfo, error) { return o.onionList(), nil })
	handle(srv, opOnionRotate, o.onionRotate)
	handle(srv, opRetentionSet, o.retentionSet)
	srv.HandleStream(opBackup, func(_ context.Context, _ json.RawMessage, w io.Writer) error {
		if _, err := o.backupTo(w); err != nil {
			return control.Errorf(errorCode(err), "%v", err)
		}
		return nil
	})
	go srv.Serve(ctx)
	return srv, nil
}

// handle registers a typed operation: strict JSON arguments in, a result
// out, errors mapped to codes the admin command turns back into messages.
func handle[A, R any](srv *control.Server, op string, fn func(context.Context, A) (R, error)) {
	srv.Handle(op, func(ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if len(raw) > 0 {
			if err := strictJSON(raw, &a); err != nil {
				return nil, control.Errorf("invalid", "%s: bad arguments: %v", op, err)
			}
		}
		r, err := fn(ctx, a)
		if err != nil {
			return nil, control.Errorf(errorCode(err), "%v", err)
		}
		return r, nil
	})
}

func errorCode(err error) string {
	switch {
	case isNotFound(err):
		return "not_found"
	case errors.Is(err, journalists.ErrExists), errors.Is(err, store.ErrExists):
		return "conflict"
	case errors.Is(err, journalists.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.As(err, new(*opError)):
		return "invalid"
	}
	return "failed"
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// adminOp runs one admin operation: through the running server's control
// socket if there is one, else directly on the store, with the same code.
func adminOp[A, R any](ctx context.Context, e *env, d *datadir.Dir, op string, args A, direct func(*ops) (R, error)) (R, error) {
	var r R
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	err := control.Call(cctx, d.Join(datadir.ControlSocket), op, args, &r)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, control.ErrNotRunning) {
		var ce *control.Error
		if errors.As(err, &ce) {
			return r, errors.New(ce.Msg)
		}
		return r, err
	}
	o, err := openDirect(d)
	if err != nil {
		return r, err
	}
	defer o.st.Close()
	return direct(o)
}

// openDirect opens the store of a stopped server for the admin operations.
func openDirect(d *datadir.Dir) (*ops, error) {
	st, err := store.Open(d.StorePath(), nil)
	if err != nil {
		return nil, err
	}
	o := &ops{d: d, st: st, now: time.Now}
	if o.reg, err = journalists.Load(st); err != nil {
		st.Close()
		return nil, err
	}
	text, err := d.NewsroomKey()
	if err != nil {
		st.Close()
		return nil, err
	}
	if text != "" {
		newsroom, err := sign.ParsePublicKey(text, sign.Newsroom)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("pinned newsroom key: %w", err)
		}
		if o.kr, err = keyring.New(st, newsroom, time.Now); err != nil {
			st.Close()
			return nil, err
		}
	}
	return o, nil
}
