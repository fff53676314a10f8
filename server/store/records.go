package store

import (
	"encoding/binary"
	"fmt"
)

// Bucket names. All buckets are top-level; there are no nested buckets.
var (
	bucketMeta        = []byte("meta")
	bucketSources     = []byte("sources")
	bucketItems       = []byte("items")
	bucketLog         = []byte("log")
	bucketChunks      = []byte("chunks")
	bucketPending     = []byte("pending")
	bucketReplies     = []byte("replies")
	bucketReplyChunks = []byte("replychunks")
	bucketJournalists = []byte("journalists")
	bucketSets        = []byte("recipientsets")
	bucketSettings    = []byte("settings")
)

// allBuckets lists every bucket of the current schema, in creation order.
var allBuckets = [][]byte{
	bucketMeta, bucketSources, bucketItems, bucketLog, bucketChunks,
	bucketPending, bucketReplies, bucketReplyChunks, bucketJournalists,
	bucketSets, bucketSettings,
}

// Keys in the meta bucket.
var (
	metaKeyMagic   = []byte("magic")
	metaKeyVersion = []byte("version")
)

// magic is the value of meta/magic: it says "this bbolt file is a sandyq store".
const magic = "sandyq-store\x00v1"

// recordVersion is the first byte of every record value of this schema.
const recordVersion = 1

// Record sizes (exact: a value of any other length is ErrCorrupt).
const (
	itemRecordLen    = 1 + 1 + 1 + 32 + 8 + 16 + 8 + 32 + 4 + 8 + 4 // 115
	pendingRecordLen = 1 + 32 + 1 + 8 + 16                          // 58
	logRecordLen     = 1 + 16                                       // 17
	replyRecordLen   = 1 + 8 + 32 + 4 + 4                           // 49
	sourceRecordMin  = 1 + 4 + 8 + 2                                // 15 + recipient
	chunkKeyLen      = 16 + 4
)

// Caps.
const (
	// MaxReplyRecipient caps Source.ReplyRecipient (an age1pq1 recipient is
	// about 1950 bytes).
	MaxReplyRecipient = 4096
	// MaxBlob caps a recipient set, a journalist record or a setting value.
	MaxBlob = 1 << 20
	// MaxKey caps a journalist ID or a setting key.
	MaxKey = 255
	// MaxReplySize caps the ciphertext of one reply.
	MaxReplySize = 4 << 20
)

const itemFlagFetched = 1

func encodeItem(it *Item, chunks uint32) []byte {
	b := make([]byte, itemRecordLen)
	b[0] = recordVersion
	b[1] = byte(it.Kind)
	if it.Fetched {
		b[2] = itemFlagFetched
	}
	o := 3
	o += copy(b[o:], it.Source[:])
	binary.BigEndian.PutUint64(b[o:], it.Seq)
	o += 8
	o += copy(b[o:], it.SetID[:])
	binary.BigEndian.PutUint64(b[o:], uint64(it.Size))
	o += 8
	o += copy(b[o:], it.SHA256[:])
	binary.BigEndian.PutUint32(b[o:], it.Day)
	o += 4
	binary.BigEndian.PutUint64(b[o:], it.Cursor)
	o += 8
	binary.BigEndian.PutUint32(b[o:], chunks)
	return b
}

// decodeItem parses an items value strictly. id is the key.
func decodeItem(id, b []byte) (*Item, uint32, error) {
	if len(id) != 16 {
		return nil, 0, fmt.Errorf("%w: item key of %d bytes", ErrCorrupt, len(id))
	}
	if len(b) != itemRecordLen || b[0] != recordVersion {
		return nil, 0, fmt.Errorf("%w: item record of %d bytes", ErrCorrupt, len(b))
	}
	it := &Item{Kind: Kind(b[1])}
	if !it.Kind.valid() || b[2]&^itemFlagFetched != 0 {
		return nil, 0, fmt.Errorf("%w: item record with bad kind or flags", ErrCorrupt)
	}
	it.Fetched = b[2]&itemFlagFetched != 0
	copy(it.ID[:], id)
	o := 3
	o += copy(it.Source[:], b[o:])
	it.Seq = binary.BigEndian.Uint64(b[o:])
	o += 8
	o += copy(it.SetID[:], b[o:])
	size := binary.BigEndian.Uint64(b[o:])
	o += 8
	if size > 1<<62 {
		return nil, 0, fmt.Errorf("%w: item record with impossible size", ErrCorrupt)
	}
	it.Size = int64(size)
	o += copy(it.SHA256[:], b[o:])
	it.Day = binary.BigEndian.Uint32(b[o:])
	o += 4
	it.Cursor = binary.BigEndian.Uint64(b[o:])
	o += 8
	chunks := binary.BigEndian.Uint32(b[o:])
	if it.Cursor == 0 {
		return nil, 0, fmt.Errorf("%w: item record with cursor 0", ErrCorrupt)
	}
	return it, chunks, nil
}

type pendingRecord struct {
	Source SourceID
	Kind   Kind
	Seq    uint64
	SetID  [16]byte
}

func encodePending(p *pendingRecord) []byte {
	b := make([]byte, pendingRecordLen)
	b[0] = recordVersion
	o := 1
	o += copy(b[o:], p.Source[:])
	b[o] = byte(p.Kind)
	o++
	binary.BigEndian.PutUint64(b[o:], p.Seq)
	o += 8
	copy(b[o:], p.SetID[:])
	return b
}

func decodePending(id, b []byte) (*pendingRecord, error) {
	if len(id) != 16 || len(b) != pendingRecordLen || b[0] != recordVersion {
		return nil, fmt.Errorf("%w: pending record of %d bytes", ErrCorrupt, len(b))
	}
	p := &pendingRecord{}
	o := 1
	o += copy(p.Source[:], b[o:])
	p.Kind = Kind(b[o])
	o++
	p.Seq = binary.BigEndian.Uint64(b[o:])
	o += 8
	copy(p.SetID[:], b[o:])
	if !p.Kind.valid() {
		return nil, fmt.Errorf("%w: pending record with bad kind", ErrCorrupt)
	}
	return p, nil
}

func encodeLog(id ItemID) []byte {
	b := make([]byte, logRecordLen)
	b[0] = recordVersion
	copy(b[1:], id[:])
	return b
}

func decodeLog(k, b []byte) (uint64, ItemID, error) {
	var id ItemID
	if len(k) != 8 || len(b) != logRecordLen || b[0] != recordVersion {
		return 0, id, fmt.Errorf("%w: log entry of %d bytes", ErrCorrupt, len(b))
	}
	copy(id[:], b[1:])
	c := binary.BigEndian.Uint64(k)
	if c == 0 {
		return 0, id, fmt.Errorf("%w: log entry with cursor 0", ErrCorrupt)
	}
	return c, id, nil
}

func encodeSource(s *Source) []byte {
	b := make([]byte, sourceRecordMin+len(s.ReplyRecipient))
	b[0] = recordVersion
	binary.BigEndian.PutUint32(b[1:], s.Day)
	binary.BigEndian.PutUint64(b[5:], s.NextSeq)
	binary.BigEndian.PutUint16(b[13:], uint16(len(s.ReplyRecipient)))
	copy(b[15:], s.ReplyRecipient)
	return b
}

func decodeSource(id, b []byte) (*Source, error) {
	if len(id) != 32 || len(b) < sourceRecordMin || b[0] != recordVersion {
		return nil, fmt.Errorf("%w: source record of %d bytes", ErrCorrupt, len(b))
	}
	n := int(binary.BigEndian.Uint16(b[13:]))
	if len(b) != sourceRecordMin+n || n > MaxReplyRecipient {
		return nil, fmt.Errorf("%w: source record of %d bytes", ErrCorrupt, len(b))
	}
	s := &Source{
		Day:            binary.BigEndian.Uint32(b[1:]),
		NextSeq:        binary.BigEndian.Uint64(b[5:]),
		ReplyRecipient: string(b[15:]),
	}
	copy(s.ID[:], id)
	return s, nil
}

type replyRecord struct {
	Size   int64
	SHA256 [32]byte
	Day    uint32
	Chunks uint32
}

func encodeReply(r *replyRecord) []byte {
	b := make([]byte, replyRecordLen)
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], uint64(r.Size))
	copy(b[9:], r.SHA256[:])
	binary.BigEndian.PutUint32(b[41:], r.Day)
	binary.BigEndian.PutUint32(b[45:], r.Chunks)
	return b
}

func decodeReply(k, b []byte) (*replyRecord, error) {
	if len(k) != 32+16 || len(b) != replyRecordLen || b[0] != recordVersion {
		return nil, fmt.Errorf("%w: reply record of %d bytes", ErrCorrupt, len(b))
	}
	r := &replyRecord{Size: int64(binary.BigEndian.Uint64(b[1:]))}
	copy(r.SHA256[:], b[9:])
	r.Day = binary.BigEndian.Uint32(b[41:])
	r.Chunks = binary.BigEndian.Uint32(b[45:])
	if r.Size < 0 || r.Size > MaxReplySize {
		return nil, fmt.Errorf("%w: reply record with impossible size", ErrCorrupt)
	}
	return r, nil
}

// encodeBlob and decodeBlob wrap opaque values (recipient sets,
// journalists, settings) in a version byte.
func encodeBlob(v []byte) []byte {
	b := make([]byte, 1+len(v))
	b[0] = recordVersion
	copy(b[1:], v)
	return b
}

func decodeBlob(b []byte) ([]byte, error) {
	if len(b) < 1 || b[0] != recordVersion || len(b)-1 > MaxBlob {
		return nil, fmt.Errorf("%w: blob record of %d bytes", ErrCorrupt, len(b))
	}
	return append([]byte(nil), b[1:]...), nil
}

func chunkKey(id [16]byte, i uint32) []byte {
	k := make([]byte, chunkKeyLen)
	copy(k, id[:])
	binary.BigEndian.PutUint32(k[16:], i)
	return k
}

func cursorKey(c uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, c)
	return k
}

func replyKey(src SourceID, id ItemID) []byte {
	k := make([]byte, 48)
	copy(k, src[:])
	copy(k[32:], id[:])
	return k
}
