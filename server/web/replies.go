package web

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"sandyq/crypto/envelope"
	"sandyq/server/store"
)

// Replies are age ciphertext (an envelope of kind Reply) to the source's
// reply identity. They are decrypted in memory, only in the session that
// derived the identity at login, and shown as escaped text. The store looks
// replies up by (source ID, reply ID), so a reply ID of another source is
// simply not found.

// maxReplyText caps the decrypted text of a reply shown on a page.
const maxReplyText = store.MaxReplySize // a reply cannot be longer than its ciphertext

// validReplyID reports whether s is a reply ID as the pages write it: 32
// lower-case hex digits.
func validReplyID(s string) bool {
	if len(s) != 2*len(store.ItemID{}) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func parseReplyID(s string) store.ItemID {
	var id store.ItemID
	hex.Decode(id[:], []byte(s))
	return id
}

// dayString formats a store day (days since 1970-01-01, UTC).
func dayString(day uint32) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format(time.DateOnly)
}

// repliesPage handles GET /{lang}/replies.
func (h *Handler) repliesPage(w http.ResponseWriter, r *http.Request, lang string) {
	sess := h.source(w, r, lang)
	if sess == nil {
		return
	}
	list, err := h.cfg.Store.Replies(sess.src.id)
	if err != nil {
		h.log.Error("web: listing replies failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	p := newPage(lang, "replies.title", "replies", sess)
	for _, rep := range list {
		p.Replies = append(p.Replies, replyView{ID: rep.ID.String(), Date: dayString(rep.Day)})
	}
	h.render(w, http.StatusOK, "replies", p)
}

// replyPage handles GET /{lang}/replies/{id}.
func (h *Handler) replyPage(w http.ResponseWriter, r *http.Request, lang, id string) {
	sess := h.source(w, r, lang)
	if sess == nil {
		return
	}
	view, err := h.readReply(sess.src, parseReplyID(id))
	if errors.Is(err, store.ErrNotFound) {
		h.renderError(w, lang, http.StatusNotFound)
		return
	}
	if err != nil {
		h.log.Error("web: reading a reply failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	p := newPage(lang, "reply.title", "replies", sess)
	p.Reply = view
	h.render(w, http.StatusOK, "reply", p)
}

// readReply decrypts one reply of src, verifying the envelope to its end
// and that it names this source and this reply ID (chosen by the
// journalist's client and bound inside the envelope).
func (h *Handler) readReply(src *sourceSession, id store.ItemID) (*replyView, error) {
	var day uint32
	list, err := h.cfg.Store.Replies(src.id)
	if err != nil {
		return nil, err
	}
	found := false
	for _, rep := range list {
		if rep.ID == id {
			found, day = true, rep.Day
		}
	}
	if !found {
		return nil, store.ErrNotFound
	}
	rc, err := h.cfg.Store.OpenReply(src.id, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	er, err := envelope.Open(rc, src.identity)
	if err != nil {
		return nil, fmt.Errorf("opening reply: %w", err)
	}
	if er.Header.Kind != envelope.Reply || er.Header.SourceID != src.id || er.Header.ItemID != id {
		return nil, errors.New("reply envelope is not a reply to this source")
	}
	b, err := io.ReadAll(io.LimitReader(er, maxReplyText+1))
	if err != nil {
		return nil, fmt.Errorf("reading reply: %w", err)
	}
	if len(b) > maxReplyText {
		return nil, errors.New("reply text is over the display cap")
	}
	text := strings.ToValidUTF8(string(b), "\uFFFD")
	clear(b)
	return &replyView{ID: id.String(), Date: dayString(day), Text: text}, nil
}

// deleteReply handles POST /{lang}/replies/{id}/delete.
func (h *Handler) deleteReply(w http.ResponseWriter, r *http.Request, lang, id string) {
	sess, _ := h.postForm(w, r, lang)
	if sess == nil {
		return
	}
	if sess.src == nil {
		h.fail(w, lang, errForbidden)
		return
	}
	err := h.cfg.Store.DeleteReply(sess.src.id, parseReplyID(id))
	if errors.Is(err, store.ErrNotFound) {
		h.renderError(w, lang, http.StatusNotFound)
		return
	}
	if err != nil {
		h.log.Error("web: deleting a reply failed", "err", err)
		h.renderError(w, lang, http.StatusInternalServerError)
		return
	}
	redirect(w, "/"+lang+"/replies")
}
