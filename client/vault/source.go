package vault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"
	"time"

	"sandyq/client/bundle"
	"sandyq/crypto/recipients"
)

const (
	sourceRecord = "source.json"
	replyPrefix  = "reply-"
)

// sourceRecordData is the content of "<source>/.meta/source.json".
type sourceRecordData struct {
	SourceID       string `json:"source_id"`       // 64 lower-case hex digits
	ReplyRecipient string `json:"reply_recipient"` // canonical age recipient
	UpTo           uint64 `json:"up_to"`           // cursor of the bundle it came from
}

// ReplyRecord is the record of one reply sent to a source, stored as
// "<source>/.meta/reply-<reply-id-hex>.json". The text of the reply is not
// kept in the vault.
type ReplyRecord struct {
	ReplyID  string `json:"reply_id"`  // 32 lower-case hex digits
	SourceID string `json:"source_id"` // 64 lower-case hex digits
	Day      uint32 `json:"day"`       // UTC days since 1970-01-01 it was written
}

// Date returns Day as a date "YYYY-MM-DD".
func (r *ReplyRecord) Date() string {
	return time.Unix(int64(r.Day)*86400, 0).UTC().Format("2006-01-02")
}

// SeqRange is a range of sequence numbers, First ≤ Last.
type SeqRange struct{ First, Last uint64 }

// String returns "5" or "5-9".
func (r SeqRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// SourceInfo is what the vault knows about one source.
type SourceInfo struct {
	ID string // 64 lower-case hex digits

	// ReplyRecipient is the age recipient replies to the source are
	// encrypted to, as the newest bundle that listed the source gave it,
	// or "" if no bundle opened into this vault did. It was checked to be a
	// valid recipient; it is trusted only as far as the server is.
	ReplyRecipient string

	// Items is the number of items of the source in the vault.
	Items int

	// Gaps are the sequence numbers from 0 to the highest one in the vault
	// that no item in the vault has: items deleted on the server, uploads
	// that never completed, items for another identity, not fetched yet,
	// or withheld by the server.
	Gaps []SeqRange

	// Replies are the replies sent to the source, by day and ID.
	Replies []ReplyRecord
}

// Gaps returns the numbers from 0 to the largest of seqs that are not in
// seqs, as ranges. seqs need not be sorted and may repeat.
func Gaps(seqs []uint64) []SeqRange {
	s := append([]uint64(nil), seqs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var out []SeqRange
	next := uint64(0) // the smallest number not yet accounted for
	for _, q := range s {
		if q < next {
			continue // a repeat
		}
		if q > next {
			out = append(out, SeqRange{next, q - 1})
		}
		if q == math.MaxUint64 {
			break
		}
		next = q + 1
	}
	return out
}

// recordSources checks every source's reply recipient in m and records it.
// Nothing is written unless all are valid.
func (v *Vault) recordSources(m *bundle.Manifest, rep *Report) error {
	canon := make([]string, len(m.Sources))
	for i, s := range m.Sources {
		c, _, err := recipients.Canonical(s.ReplyRecipient)
		if err != nil {
			srcHex := hex.EncodeToString(s.ID[:])
			return fmt.Errorf("%w: source %s…: %w", ErrBadRecipient, srcHex[:MinPrefix], err)
		}
		canon[i] = c
	}
	for i, s := range m.Sources {
		srcHex := hex.EncodeToString(s.ID[:])
		if err := v.mkdirs(srcHex); err != nil {
			return err
		}
		name := srcHex + "/" + metaDir + "/" + sourceRecord
		var old sourceRecordData
		err := v.readJSON(name, &old)
		switch {
		case isNotExist(err):
			rep.NewRecipients = append(rep.NewRecipients, srcHex)
		case err != nil:
			return fmt.Errorf("source %s…: %w", srcHex[:MinPrefix], err)
		case old.SourceID != srcHex:
			return fmt.Errorf("%w: source %s…: the source record names another source", ErrBadRecord, srcHex[:MinPrefix])
		case m.UpTo < old.UpTo:
			continue // an older bundle: the newer value stays
		case old.ReplyRecipient == canon[i] && old.UpTo == m.UpTo:
			continue // nothing new
		case old.ReplyRecipient != canon[i]:
			rep.ChangedRecipients = append(rep.ChangedRecipients, srcHex)
		}
		rec := &sourceRecordData{SourceID: srcHex, ReplyRecipient: canon[i], UpTo: m.UpTo}
		if err := v.writeRecord(name, rec, true); err != nil {
			return fmt.Errorf("source %s…: recording the reply recipient: %w", srcHex[:MinPrefix], err)
		}
	}
	return nil
}

// findSource returns the full ID of the source with the given ID or unique
// prefix (at least MinPrefix hex digits).
func (v *Vault) findSource(id string) (string, error) {
	p, err := normPrefix(id, 64, "a source")
	if err != nil {
		return "", err
	}
	srcs, err := v.sourceDirs()
	if err != nil {
		return "", err
	}
	found := ""
	for _, s := range srcs {
		if strings.HasPrefix(s, p) {
			if found != "" {
				return "", fmt.Errorf("%w source: %s", ErrAmbiguous, p)
			}
			found = s
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: source %s", ErrNotFound, p)
	}
	return found, nil
}

// sourceDirs returns the names of the source directories, sorted.
func (v *Vault) sourceDirs() ([]string, error) {
	names, err := readDirNames(v.root, ".")
	if err != nil {
		return nil, ioErr("reading the vault", err)
	}
	var out []string
	for _, n := range names {
		if !isHex(n, 64) {
			continue
		}
		fi, err := v.root.Lstat(n)
		if err != nil || !fi.IsDir() {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Source returns what the vault knows about the source with the given ID or
// unique ID prefix (at least MinPrefix hex digits).
func (v *Vault) Source(id string) (*SourceInfo, error) {
	src, err := v.findSource(id)
	if err != nil {
		return nil, err
	}
	entries, err := v.List()
	if err != nil {
		return nil, err
	}
	return v.sourceInfo(src, entries)
}

// Sources returns what the vault knows about every source, sorted by ID.
func (v *Vault) Sources() ([]SourceInfo, error) {
	srcs, err := v.sourceDirs()
	if err != nil {
		return nil, err
	}
	entries, err := v.List()
	if err != nil {
		return nil, err
	}
	out := make([]SourceInfo, 0, len(srcs))
	for _, s := range srcs {
		info, err := v.sourceInfo(s, entries)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// sourceInfo gathers the source's records; entries are the vault's items.
func (v *Vault) sourceInfo(src string, entries []Entry) (*SourceInfo, error) {
	info := &SourceInfo{ID: src}
	var rec sourceRecordData
	err := v.readJSON(src+"/"+metaDir+"/"+sourceRecord, &rec)
	switch {
	case err == nil:
		if rec.SourceID != src {
			return nil, fmt.Errorf("%w: source %s…: the source record names another source", ErrBadRecord, src[:MinPrefix])
		}
		c, _, err := recipients.Canonical(rec.ReplyRecipient)
		if err != nil || c != rec.ReplyRecipient {
			return nil, fmt.Errorf("%w: source %s…: the recorded reply recipient is not valid", ErrBadRecord, src[:MinPrefix])
		}
		info.ReplyRecipient = c
	case !isNotExist(err):
		return nil, fmt.Errorf("source %s…: %w", src[:MinPrefix], err)
	}
	var seqs []uint64
	for i := range entries {
		if entries[i].SourceID == src {
			seqs = append(seqs, entries[i].Seq)
		}
	}
	info.Items = len(seqs)
	info.Gaps = Gaps(seqs)
	replies, err := v.replies(src)
	if err != nil {
		return nil, err
	}
	info.Replies = replies
	return info, nil
}

// replies reads the reply records of source src.
func (v *Vault) replies(src string) ([]ReplyRecord, error) {
	names, err := readDirNames(v.root, src+"/"+metaDir)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, ioErr("reading the vault", err)
	}
	var out []ReplyRecord
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, replyPrefix)
		if !ok {
			continue
		}
		id, ok := strings.CutSuffix(rest, ".json")
		if !ok || !isHex(id, 32) {
			continue
		}
		var r ReplyRecord
		if err := v.readJSON(src+"/"+metaDir+"/"+n, &r); err != nil {
			return nil, fmt.Errorf("reply %s: %w", id, err)
		}
		if r.ReplyID != id || r.SourceID != src {
			return nil, fmt.Errorf("%w: reply %s: IDs do not match its place", ErrBadRecord, id)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return out[i].ReplyID < out[j].ReplyID
	})
	return out, nil
}

// RecordReply records that a reply with the given ID was written for the
// source on the given day (UTC days since 1970-01-01). The source must be
// in the vault. A reply ID already recorded is an error.
func (v *Vault) RecordReply(sourceID [32]byte, replyID [16]byte, day uint32) error {
	src := hex.EncodeToString(sourceID[:])
	id := hex.EncodeToString(replyID[:])
	fi, err := v.root.Lstat(src)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: source %s…", ErrNotFound, src[:MinPrefix])
	}
	if err := v.mkdirs(src); err != nil {
		return err
	}
	rec := &ReplyRecord{ReplyID: id, SourceID: src, Day: day}
	err = v.writeRecord(src+"/"+metaDir+"/"+replyPrefix+id+".json", rec, false)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("reply %s is already recorded", id)
	}
	return err
}
