package japi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"sandyq/client/bundle"
	"sandyq/server/journalists"
	"sandyq/server/store"
)

// MaxRewrapBundle caps the body of POST /v1/rewrap. The swap writes every
// new ciphertext in one store transaction, which holds them in memory
// until it commits, so this bounds the server's memory too. A journalist
// with more to rewrap pushes several bundles (each is swapped all or
// none); an item larger than this cannot be rewrapped.
const MaxRewrapBundle = 256 << 20

// rewrap serves POST /v1/rewrap: a rewrap bundle signed by the caller's
// access key, whose items replace the ciphertext of items the server
// holds. Everything the manifest says is checked before any ciphertext is
// read: each item exists and belongs to the source named, each recipient
// set is installed and has not expired. Then each new ciphertext is staged
// in the store (invisible) while its SHA-256 is checked against the signed
// manifest and its first bytes against the age header, and only when the
// whole bundle has been read are all items swapped in one transaction.
// Any failure before leaves every item as it was.
func (h *Handler) rewrap(w http.ResponseWriter, r *http.Request, j *journalists.Journalist) *apiError {
	if r.ContentLength > MaxRewrapBundle {
		return fail(http.StatusRequestEntityTooLarge, "a rewrap bundle is at most %d MiB", MaxRewrapBundle>>20)
	}
	// net/http reads at most Content-Length bytes of the body.
	br, err := bundle.NewReader(r.Body, bundle.Rewraps, bundle.TrustKeys(j.Access),
		&bundle.ReaderOptions{MaxTotalSize: MaxRewrapBundle})
	if err != nil {
		return fail(http.StatusBadRequest, "rewrap bundle refused: %v", err)
	}
	m := br.Manifest()
	if len(m.Rewraps) == 0 {
		return fail(http.StatusBadRequest, "the rewrap bundle lists no item")
	}
	if e := h.checkRewraps(m.Rewraps); e != nil {
		return e
	}

	var staged []*store.Replacement
	swapped := false
	defer func() {
		if !swapped {
			for _, rep := range staged {
				rep.Abort()
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		e, item, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(http.StatusBadRequest, "rewrap bundle refused: %v", err)
		}
		set := m.Rewraps[e.Index].SetID
		rep, err := h.cfg.Store.NewReplacement(store.ItemID(e.ID), store.SourceID(e.Source), set)
		if err != nil {
			return h.storeError(e.Index, err)
		}
		staged = append(staged, rep)
		if e := stageRewrap(rep, item, e.Index, buf); e != nil {
			return e
		}
	}
	items, unchanged, err := h.cfg.Store.ReplaceItems(staged...)
	if err != nil {
		return h.storeError(-1, err)
	}
	swapped = true
	writeJSON(w, http.StatusOK, RewrapResult{Replaced: len(items) - unchanged, Already: unchanged})
	return nil
}

// checkRewraps checks the manifest's entries against the store.
func (h *Handler) checkRewraps(rs []bundle.Rewrap) *apiError {
	now := h.cfg.Now()
	sets := map[[16]byte]bool{}
	for i, e := range rs {
		it, err := h.cfg.Store.Item(store.ItemID(e.ID))
		if errors.Is(err, store.ErrNotFound) || (err == nil && it.Source != store.SourceID(e.Source)) {
			return fail(http.StatusNotFound, "item %d: no such item of that source on this server", i+1)
		}
		if err != nil {
			return h.internal(err)
		}
		if sets[e.SetID] {
			continue
		}
		set, ok := h.cfg.Keyring.ByID(e.SetID)
		if !ok {
			return fail(http.StatusConflict, "item %d: its recipient set is not installed on this server", i+1)
		}
		if !now.Before(set.NotAfter) {
			return fail(http.StatusConflict, "item %d: its recipient set expired at %s", i+1, set.NotAfter.Format(time.RFC3339))
		}
		sets[e.SetID] = true
	}
	return nil
}

// stageRewrap copies one new ciphertext into the store, checking that it
// starts with the age header. The item reader returns io.EOF only once
// the bytes matched the manifest's size and SHA-256.
func stageRewrap(rep *store.Replacement, item io.Reader, index int, buf []byte) *apiError {
	head := buf[:len(ageHeader)]
	n, err := io.ReadFull(item, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fail(http.StatusBadRequest, "rewrap bundle refused: %v", err)
	}
	if !bytes.Equal(head[:n], ageHeader) {
		return fail(http.StatusBadRequest, "item %d is not an age file", index+1)
	}
	if _, err := rep.Write(head); err != nil {
		return &apiError{status: http.StatusServiceUnavailable, msg: "could not store the rewrap, try again later"}
	}
	// Not io.CopyBuffer: a read error (the bundle) and a write error (the
	// store) get different answers.
	for {
		k, rerr := item.Read(buf)
		if k > 0 {
			if _, err := rep.Write(buf[:k]); err != nil {
				return &apiError{status: http.StatusServiceUnavailable, msg: "could not store the rewrap, try again later"}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fail(http.StatusBadRequest, "rewrap bundle refused: %v", rerr)
		}
	}
}

// storeError turns a store error about the item at index (-1: the swap)
// into an answer.
func (h *Handler) storeError(index int, err error) *apiError {
	switch {
	case errors.Is(err, store.ErrNotFound) && index >= 0:
		return fail(http.StatusNotFound, "item %d: no such item of that source on this server", index+1)
	case errors.Is(err, store.ErrNotFound):
		return fail(http.StatusNotFound, "an item of the bundle was deleted meanwhile; nothing was replaced")
	case errors.Is(err, store.ErrInvalid):
		return fail(http.StatusBadRequest, "%v", err)
	case errors.Is(err, store.ErrClosed):
		return errBusy
	}
	return h.internal(err)
}

// RewrapResult is the server's answer to a rewrap bundle: how many items
// got their new ciphertext, and how many already had exactly it (the same
// bundle pushed again).
type RewrapResult struct {
	Replaced int `json:"replaced"`
	Already  int `json:"already"`
}

// PushRewrap uploads a rewrap bundle of size bytes.
func (c *Client) PushRewrap(ctx context.Context, r io.Reader, size int64) (*RewrapResult, error) {
	var res RewrapResult
	if err := c.push(ctx, "/v1/rewrap", r, size, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
