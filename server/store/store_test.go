package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestSources(t *testing.T) {
	s, _ := openTest(t, nil)
	id := srcID(1)
	if _, err := s.Source(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Source before create: %v", err)
	}
	mustSource(t, s, id)
	tests := []struct {
		name string
		id   SourceID
		rcpt string
		want error
	}{
		{"duplicate", id, "age1x", ErrExists},
		{"empty recipient", srcID(2), "", ErrInvalid},
		{"huge recipient", srcID(2), string(make([]byte, MaxReplyRecipient+1)), ErrInvalid},
		{"ok", srcID(3), "age1pq1…", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateSource(tt.id, tt.rcpt); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CreateSource = %v, want %v", err, tt.want)
			}
		})
	}
	got, err := s.Source(id)
	if err != nil || got.ID != id || got.ReplyRecipient != "age1example" || got.Day != testDay() || got.NextSeq != 0 {
		t.Fatalf("Source = %+v, %v", got, err)
	}
}

func TestItemRoundTrip(t *testing.T) {
	s, _ := openTest(t, nil)
	src := srcID(1)
	mustSource(t, s, src)
	for i, n := range []int{0, 1, 4095, 4096, 4097, 3*4096 + 5, 100000} {
		data := payload(uint64(i), n)
		w := writeItem(t, s, src, data)
		if w.Sequence() != uint64(i) {
			t.Fatalf("sequence %d, want %d", w.Sequence(), i)
		}
		if _, err := s.Item(w.ID()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("item visible before commit: %v", err)
		}
		items, err := s.Commit(w)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		it := items[0]
		if it.ID != w.ID() || it.Source != src || it.Kind != KindFile || it.Seq != uint64(i) ||
			it.SetID != [16]byte{7} || it.Day != testDay() || it.Cursor != uint64(i+1) || it.Fetched {
			t.Fatalf("item %+v", it)
		}
		checkItemData(t, s, it, data)
		got, err := s.Item(it.ID)
		if err != nil || *got != it {
			t.Fatalf("Item = %+v, %v; want %+v", got, err, it)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrCommitted) {
			t.Fatalf("Write after commit: %v", err)
		}
		if _, err := s.Commit(w); !errors.Is(err, ErrCommitted) {
			t.Fatalf("Commit twice: %v", err)
		}
	}
	src2, _ := s.Source(src)
	if src2.NextSeq != 7 {
		t.Fatalf("NextSeq = %d", src2.NextSeq)
	}
}

func TestNewItemErrors(t *testing.T) {
	s, _ := openTest(t, nil)
	mustSource(t, s, srcID(1))
	tests := []struct {
		name string
		src  SourceID
		kind Kind
		want error
	}{
		{"no source", srcID(9), KindMessage, ErrNotFound},
		{"kind 0", srcID(1), 0, ErrInvalid},
		{"kind 4", srcID(1), 4, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.NewItem(tt.src, tt.kind, [16]byte{}); !errors.Is(err, tt.want) {
				t.Fatalf("NewItem = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCommitAtomicity(t *testing.T) {
	s, _ := openTest(t, nil)
	src := srcID(1)
	mustSource(t, s, src)
	var ws []*ItemWriter
	var data [][]byte
	for i := range 3 {
		data = append(data, payload(uint64(i), 10000+i))
		ws = append(ws, writeItem(t, s, src, data[i]))
	}
	if err := ws[1].Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if _, err := s.Commit(ws...); !errors.Is(err, ErrAborted) {
		t.Fatalf("Commit with an aborted writer = %v, want ErrAborted", err)
	}
	for _, w := range ws {
		if _, err := s.Item(w.ID()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("item visible after failed commit: %v", err)
		}
	}
	if l, _ := s.ListItems(0, 0); len(l) != 0 {
		t.Fatalf("ListItems after failed commit: %d", len(l))
	}
	// The others are intact and can be committed together.
	items, err := s.Commit(ws[0], ws[2])
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkItemData(t, s, items[0], data[0])
	checkItemData(t, s, items[1], data[2])

	// A commit whose source vanished fails as a whole.
	src2 := srcID(2)
	mustSource(t, s, src2)
	a, b := writeItem(t, s, src, data[0]), writeItem(t, s, src2, data[1])
	if err := s.DeleteSource(src2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(a, b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Commit with deleted source = %v", err)
	}
	if _, err := s.Item(a.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half of a failed commit is visible")
	}
	if _, err := s.Commit(a); err != nil {
		t.Fatalf("retrying Commit: %v", err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	c := writeItem(t, s, src, data[0])
	if _, err := s.Commit(c, c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Commit(c, c) = %v", err)
	}
	c.Abort()
}

func TestAbort(t *testing.T) {
	s, _ := openTest(t, nil)
	src := srcID(1)
	mustSource(t, s, src)
	w := writeItem(t, s, src, payload(1, 50000))
	w.reap(true) // chunks are committed asynchronously
	st, _ := s.Stats()
	if st.Pending != 1 {
		t.Fatalf("pending = %d, want 1", st.Pending)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrAborted) {
		t.Fatalf("Write after Abort: %v", err)
	}
	st, _ = s.Stats()
	if st.Pending != 0 {
		t.Fatalf("pending after abort = %d", st.Pending)
	}
	if err := s.view(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(bucketChunks).Stats().KeyN; n != 0 {
			return fmt.Errorf("%d chunks left", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The aborted sequence number is a gap, never reused.
	it := putItem(t, s, src, []byte("x"))
	if it.Seq != 1 {
		t.Fatalf("seq after abort = %d, want 1", it.Seq)
	}
}

func TestReconcileAtOpen(t *testing.T) {
	s, path := openTest(t, nil)
	src := srcID(1)
	mustSource(t, s, src)
	kept := putItem(t, s, src, payload(1, 9000))
	w := writeItem(t, s, src, payload(2, 30000)) // 7 chunks on disk
	// The writer goroutine commits chunks asynchronously: wait until the
	// pending record is on disk, or the crash below may come first.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, err := s.Stats(); err == nil && st.Pending == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pending upload never reached the file")
		}
	}
	// Simulate a crash: stop the writer and close bbolt without the
	// cleanup Close does.
	s.closeOnce.Do(func() {
		s.sendClosed = true
		close(s.quit)
		<-s.done
		if err := s.db.Close(); err != nil {
			t.Fatal(err)
		}
	})
	_ = w
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(bucketPending).Stats().KeyN; n != 1 {
			t.Errorf("pending before reopen = %d", n)
		}
		return nil
	})
	db.Close()

	s2, err := Open(path, testOptions(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, _ := s2.Stats()
	if st.Pending != 0 || st.Items != 1 {
		t.Fatalf("after reconcile: %+v", st)
	}
	if err := s2.Check(); err != nil {
		t.Fatal(err)
	}
	checkItemData(t, s2, kept, payload(1, 9000))
	// The sequence counter restarts from the stored NextSeq: no duplicate.
	it := putItem(t, s2, src, []byte("y"))
	if it.Seq != 1 {
		t.Fatalf("seq after crash = %d, want 1", it.Seq)
	}
}

func TestListItemsCursor(t *testing.T) {
	s, _ := openTest(t, nil)
	src := srcID(1)
	mustSource(t, s, src)
	var items []Item
	for i := range 10 {
		items = append(items, putItem(t, s, src, payload(uint64(i), 100)))
	}
	if err := s.DeleteItem(items[3].ID); err != nil {
		t.Fatal(err)
	}
	ids := func(l []Item) []uint64 {
		var c []uint64
		for _, it := range l {
			c = append(c, it.Cursor)
		}
		return c
	}
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, []uint64{1, 2, 3, 5, 6, 7, 8, 9, 10}},
		{0, 3, []uint64{1, 2, 3}},
		{3, 2, []uint64{5, 6}},
		{2, 1, []uint64{3}},
		{4, 0, []uint64{5, 6, 7, 8, 9, 10}},
		{10, 5, nil},
		{1 << 63, 5, nil},
		{^uint64(0), 5, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after%d_limit%d", tt.after, tt.limit), func(t *testing.T) {
			l, err := s.ListItems(tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ids(l)) != fmt.Sprint(tt.want) {
				t.Fatalf("cursors %v, want %v", ids(l), tt.want)
			}
		})
	}
	// Cursors are never reused, even after deleting the newest.
	if err := s.DeleteItem(items[9].ID); err != nil {
		t.Fatal(err)
	}
	if last, err := s.LastCursor(); err != nil || last != 10 {
		t.Fatalf("LastCursor after deleting the newest = %d, %v; want 10", last, err)
	}
	if it := putItem(t, s, src, []byte("z")); it.Cursor != 11 {
		t.Fatalf("cursor after delete = %d", it.Cursor)
	}
}

func TestDeleteAndFetched(t *testing.T) {
	s, _ := openTest(t, nil)
	a, b := srcID(1), srcID(2)
	mustSource(t, s, a)
	mustSource(t, s, b)
	ia := putItem(t, s, a, payload(1, 20000))
	ib := putItem(t, s, b, payload(2, 20000))
	ia2 := putItem(t, s, a, payload(3, 10))

	if err := s.MarkFetched(ia.ID, ib.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFetched(ia2.ID, ItemID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MarkFetched with unknown = %v", err)
	}
	if it, _ := s.Item(ia2.ID); it.Fetched {
		t.Fatal("MarkFetched is not all-or-none")
	}
	if it, _ := s.Item(ia.ID); !it.Fetched {
		t.Fatal("not marked fetched")
	}
	of, err := s.ItemsOf(a)
	if err != nil || len(of) != 2 || of[0].ID != ia.ID || of[1].ID != ia2.ID {
		t.Fatalf("ItemsOf = %v, %v", of, err)
	}
	if err := s.DeleteItem(ia.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteItem(ia.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	if _, err := s.OpenItem(ia.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenItem of deleted = %v", err)
	}
	if _, err := s.AddReply(a, bytes.NewReader([]byte("reply"))); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSource(a); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListItems(0, 0); len(l) != 1 || l[0].ID != ib.ID {
		t.Fatalf("after DeleteSource: %v", l)
	}
	st, _ := s.Stats()
	if st.Sources != 1 || st.Items != 1 || st.Replies != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.DeleteSource(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteSource twice = %v", err)
	}
}

func TestDeleteWhileReading(t *testing.T) {
	s, _ := openTest(t, nil)
	mustSource(t, s, srcID(1))
	it := putItem(t, s, srcID(1), payload(1, 40000))
	r, err := s.OpenItem(it.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteItem(it.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete = %v", err)
	}
}

func TestReplies(t *testing.T) {
	s, _ := openTest(t, nil)
	a, b := srcID(1), srcID(2)
	mustSource(t, s, a)
	mustSource(t, s, b)
	tests := []struct {
		name string
		src  SourceID
		size int
		want error
	}{
		{"small", a, 10, nil},
		{"chunked", a, 3*4096 + 1, nil},
		{"max", b, MaxReplySize, nil},
		{"too large", a, MaxReplySize + 1, ErrTooLarge},
		{"empty", a, 0, ErrInvalid},
		{"no source", srcID(9), 10, ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(uint64(i), tt.size)
			r, err := s.AddReply(tt.src, bytes.NewReader(data))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("AddReply = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if r.Size != int64(tt.size) || r.Day != testDay() || r.Source != tt.src {
				t.Fatalf("reply %+v", r)
			}
			rc, err := s.OpenReply(tt.src, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("reply content: %v", err)
			}
			other := a
			if tt.src == a {
				other = b
			}
			if _, err := s.OpenReply(other, r.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("reply readable by another source: %v", err)
			}
			if err := s.DeleteReply(other, r.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("reply deletable by another source: %v", err)
			}
		})
	}
	ra, _ := s.Replies(a)
	rb, _ := s.Replies(b)
	if len(ra) != 2 || len(rb) != 1 {
		t.Fatalf("Replies: %d, %d", len(ra), len(rb))
	}
	if err := s.DeleteReply(a, ra[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteReply(a, ra[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteReply = %v", err)
	}
	if ra, _ = s.Replies(a); len(ra) != 1 {
		t.Fatalf("Replies after delete: %d", len(ra))
	}
}

func TestBlobs(t *testing.T) {
	s, _ := openTest(t, nil)
	set1, set2 := [16]byte{1}, [16]byte{2}
	if _, _, err := s.CurrentRecipientSet(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CurrentRecipientSet empty = %v", err)
	}
	if err := s.SetCurrentRecipientSet(set1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetCurrent unknown = %v", err)
	}
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"put set1", func() error { return s.PutRecipientSet(set1, []byte("signed-1")) }, nil},
		{"put set1 again", func() error { return s.PutRecipientSet(set1, []byte("signed-1")) }, nil},
		{"put set1 other bytes", func() error { return s.PutRecipientSet(set1, []byte("signed-X")) }, ErrExists},
		{"put empty", func() error { return s.PutRecipientSet(set2, nil) }, ErrTooLarge},
		{"put set2", func() error { return s.PutRecipientSet(set2, []byte("signed-2")) }, nil},
		{"current set1", func() error { return s.SetCurrentRecipientSet(set1) }, nil},
		{"delete current", func() error { return s.DeleteRecipientSet(set1) }, ErrInvalid},
		{"current set2", func() error { return s.SetCurrentRecipientSet(set2) }, nil},
		{"delete set1", func() error { return s.DeleteRecipientSet(set1) }, nil},
		{"delete set1 again", func() error { return s.DeleteRecipientSet(set1) }, ErrNotFound},
		{"journalist", func() error { return s.PutJournalist("fp1", []byte("rec")) }, nil},
		{"journalist empty id", func() error { return s.PutJournalist("", []byte("rec")) }, ErrInvalid},
		{"journalist long id", func() error { return s.PutJournalist(string(make([]byte, 256)), nil) }, ErrInvalid},
		{"setting", func() error { return s.PutSetting("retention.days", []byte("30")) }, nil},
		{"setting too big", func() error { return s.PutSetting("x", make([]byte, MaxBlob+1)) }, ErrTooLarge},
		{"delete setting unknown", func() error { return s.DeleteSetting("nope") }, ErrNotFound},
		{"delete journalist unknown", func() error { return s.DeleteJournalist("nope") }, ErrNotFound},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}
	id, raw, err := s.CurrentRecipientSet()
	if err != nil || id != set2 || string(raw) != "signed-2" {
		t.Fatalf("CurrentRecipientSet = %x %q %v", id, raw, err)
	}
	sets, _ := s.RecipientSets()
	if len(sets) != 1 || string(sets[set2]) != "signed-2" {
		t.Fatalf("RecipientSets = %v", sets)
	}
	if v, err := s.Setting("retention.days"); err != nil || string(v) != "30" {
		t.Fatalf("Setting = %q %v", v, err)
	}
	if j, _ := s.Journalists(); len(j) != 1 || string(j["fp1"]) != "rec" {
		t.Fatalf("Journalists = %v", j)
	}
	if err := s.DeleteJournalist("fp1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Journalist("fp1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Journalist after delete = %v", err)
	}
}

func TestConcurrentUploads(t *testing.T) {
	s, _ := openTest(t, nil)
	const n = 32
	for i := range n {
		mustSource(t, s, srcID(byte(i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	results := make([][]Item, n)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := srcID(byte(g % 8)) // several goroutines per source
			for k := range 4 {
				data := payload(uint64(g*10+k), 1000*g+k*5000)
				w, err := s.NewItem(src, KindMessage, [16]byte{})
				if err != nil {
					errs <- err
					return
				}
				if _, err := w.Write(data); err != nil {
					errs <- err
					return
				}
				if k == 3 {
					w.Abort()
					continue
				}
				items, err := s.Commit(w)
				if err != nil {
					errs <- err
					return
				}
				results[g] = append(results[g], items...)
			}
		}()
	}
	// A reader, a backup and a deleter at the same time.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := s.ListItems(0, 0); err != nil {
				errs <- err
			}
			if _, err := s.Backup(io.Discard); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seqs := make(map[SourceID]map[uint64]bool)
	total := 0
	for g, items := range results {
		for k, it := range items {
			checkItemData(t, s, it, payload(uint64(g*10+k), 1000*g+k*5000))
			if seqs[it.Source] == nil {
				seqs[it.Source] = make(map[uint64]bool)
			}
			if seqs[it.Source][it.Seq] {
				t.Fatalf("duplicate sequence %d", it.Seq)
			}
			seqs[it.Source][it.Seq] = true
			total++
		}
	}
	if l, _ := s.ListItems(0, 0); len(l) != total {
		t.Fatalf("ListItems: %d, want %d", len(l), total)
	}
}

func TestCheckFindsDamage(t *testing.T) {
	put := func(bucket, k, v []byte) func(tx *bbolt.Tx) error {
		return func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put(k, v) }
	}
	del := func(bucket, k []byte) func(tx *bbolt.Tx) error {
		return func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Delete(k) }
	}
	var it Item
	tests := []struct {
		name   string
		damage func(tx *bbolt.Tx) error
	}{
		{"short item record", func(tx *bbolt.Tx) error { return tx.Bucket(bucketItems).Put(it.ID[:], []byte{1, 2}) }},
		{"bad record version", func(tx *bbolt.Tx) error {
			v := bytes.Clone(tx.Bucket(bucketItems).Get(it.ID[:]))
			v[0] = 9
			return tx.Bucket(bucketItems).Put(it.ID[:], v)
		}},
		{"orphan chunk", func(tx *bbolt.Tx) error { return put(bucketChunks, chunkKey([16]byte{0xee}, 0), []byte("x"))(tx) }},
		{"missing chunk", func(tx *bbolt.Tx) error { return del(bucketChunks, chunkKey(it.ID, 1))(tx) }},
		{"flipped chunk byte", func(tx *bbolt.Tx) error {
			v := bytes.Clone(tx.Bucket(bucketChunks).Get(chunkKey(it.ID, 0)))
			v[10] ^= 1
			return tx.Bucket(bucketChunks).Put(chunkKey(it.ID, 0), v)
		}},
		{"extra chunk", func(tx *bbolt.Tx) error { return put(bucketChunks, chunkKey(it.ID, 99), []byte("x"))(tx) }},
		{"missing log entry", func(tx *bbolt.Tx) error { return del(bucketLog, cursorKey(it.Cursor))(tx) }},
		{"log to nowhere", func(tx *bbolt.Tx) error { return put(bucketLog, cursorKey(1000), encodeLog(ItemID{3}))(tx) }},
		{"pending with bad record", func(tx *bbolt.Tx) error { return put(bucketPending, []byte("0123456789abcdef"), []byte{1})(tx) }},
		{"bad source", func(tx *bbolt.Tx) error {
			id := srcID(5)
			return put(bucketSources, id[:], []byte{1, 0})(tx)
		}},
		{"unknown bucket", func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }},
		{"bad setting", func(tx *bbolt.Tx) error { return put(bucketSettings, []byte("k"), []byte{})(tx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t, nil)
			mustSource(t, s, srcID(1))
			it = putItem(t, s, srcID(1), payload(1, 10000))
			if err := s.Check(); err != nil {
				t.Fatalf("Check before damage: %v", err)
			}
			s.Close()
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tt.damage); err != nil {
				t.Fatal(err)
			}
			db.Close()
			// Open checks records too; the hash damage is only found by Check.
			s2, err := Open(path, testOptions(3))
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				return
			}
			defer s2.Close()
			if err := s2.Check(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Check = %v, want ErrCorrupt", err)
			}
			if tt.name == "flipped chunk byte" {
				r, _ := s2.OpenItem(it.ID)
				if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("reading a damaged item = %v, want ErrCorrupt", err)
				}
			}
		})
	}
}

func TestCheckStrayPending(t *testing.T) {
	s, _ := openTest(t, nil)
	mustSource(t, s, srcID(1))
	w := writeItem(t, s, srcID(1), payload(1, 10000))
	defer w.Abort()
	if err := s.Check(); err != nil {
		t.Fatalf("Check with an upload in progress: %v", err)
	}
	stray := ItemID{0xee}
	err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).Put(stray[:], encodePending(&pendingRecord{Kind: KindFile}))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check with a stray pending record = %v", err)
	}
	s.update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketPending).Delete(stray[:]) })
}

func TestBackupAndCompact(t *testing.T) {
	s, path := openTest(t, nil)
	src := srcID(1)
	mustSource(t, s, src)
	var kept []Item
	for i := range 20 {
		it := putItem(t, s, src, payload(uint64(i), 20000+i))
		if i%2 == 0 {
			if err := s.DeleteItem(it.ID); err != nil {
				t.Fatal(err)
			}
		} else {
			kept = append(kept, it)
		}
	}
	if err := s.PutSetting("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	pending := writeItem(t, s, src, payload(99, 9000)) // in progress during backup
	defer pending.Abort()

	dir := t.TempDir()
	backup := dir + "/backup.db"
	f, err := os.OpenFile(backup, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	compact := dir + "/compact.db"
	if err := s.CompactTo(compact); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactTo(compact); err == nil {
		t.Fatal("CompactTo over an existing file succeeded")
	}
	for _, p := range []string{backup, compact} {
		t.Run(p[len(dir)+1:], func(t *testing.T) {
			c, err := Open(p, testOptions(4))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Check(); err != nil {
				t.Fatal(err)
			}
			l, _ := c.ListItems(0, 0)
			if len(l) != len(kept) {
				t.Fatalf("%d items, want %d", len(l), len(kept))
			}
			for i, it := range kept {
				if l[i] != it {
					t.Fatalf("item %d differs", i)
				}
				checkItemData(t, c, it, payload(uint64(2*i+1), 20000+2*i+1))
			}
			if v, _ := c.Setting("k"); string(v) != "v" {
				t.Fatal("setting lost")
			}
			// Cursors continue where the original left off.
			mustSource(t, c, srcID(2))
			if it := putItem(t, c, srcID(2), []byte("n")); it.Cursor != 21 {
				t.Fatalf("cursor %d, want 21", it.Cursor)
			}
		})
	}
	if a, b := fileSize(t, compact), fileSize(t, path); a > b {
		t.Fatalf("compacted file %d > original %d", a, b)
	}
}

func TestReadOnly(t *testing.T) {
	s, path := openTest(t, nil)
	mustSource(t, s, srcID(1))
	it := putItem(t, s, srcID(1), payload(1, 5000))
	s.Close()
	r, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkItemData(t, r, it, payload(1, 5000))
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"CreateSource": r.CreateSource(srcID(2), "x"),
		"DeleteItem":   r.DeleteItem(it.ID),
		"PutSetting":   r.PutSetting("a", nil),
		"MarkFetched":  r.MarkFetched(it.ID),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s = %v, want ErrReadOnly", name, err)
		}
	}
	if _, err := r.NewItem(srcID(1), KindFile, [16]byte{}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("NewItem = %v", err)
	}
	if _, err := Open(t.TempDir()+"/none.db", &Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open created a file")
	}
}

func TestClose(t *testing.T) {
	s, _ := openTest(t, nil)
	mustSource(t, s, srcID(1))
	w := writeItem(t, s, srcID(1), payload(1, 10000))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write(make([]byte, 5000)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if _, err := s.Commit(w); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close = %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Close = %v", err)
	}
	if _, err := s.Item(ItemID{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Item after Close = %v", err)
	}
	if _, err := s.NewItem(srcID(1), KindFile, [16]byte{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewItem after Close = %v", err)
	}
}

func TestRecordsStrict(t *testing.T) {
	it := &Item{ID: ItemID{1}, Source: srcID(1), Kind: KindFile, Seq: 5, Size: 10, Day: 3, Cursor: 9, Fetched: true}
	rec := encodeItem(it, 2)
	got, n, err := decodeItem(it.ID[:], rec)
	if err != nil || *got != *it || n != 2 {
		t.Fatalf("round trip: %+v %d %v", got, n, err)
	}
	for i := range len(rec) + 1 {
		if _, _, err := decodeItem(it.ID[:], rec[:i]); !errors.Is(err, ErrCorrupt) && i != len(rec) {
			t.Fatalf("truncated item record of %d bytes accepted", i)
		}
	}
	if _, _, err := decodeItem(it.ID[:], append(rec, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatal("long item record accepted")
	}
	for _, bad := range []func([]byte){
		func(b []byte) { b[0] = 2 },
		func(b []byte) { b[1] = 0 },
		func(b []byte) { b[2] = 2 },
	} {
		b := bytes.Clone(rec)
		bad(b)
		if _, _, err := decodeItem(it.ID[:], b); !errors.Is(err, ErrCorrupt) {
			t.Fatal("bad item record accepted")
		}
	}
	src := encodeSource(&Source{ReplyRecipient: "age1abc", Day: 1, NextSeq: 2})
	if _, err := decodeSource(make([]byte, 32), src[:len(src)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatal("short source record accepted")
	}
	if _, err := decodeSource(make([]byte, 32), append(src, 'x')); !errors.Is(err, ErrCorrupt) {
		t.Fatal("long source record accepted")
	}
}

func TestAddRepliesAllOrNone(t *testing.T) {
	s, _ := openTest(t, nil)
	a, b := srcID(1), srcID(2)
	mustSource(t, s, a)
	mustSource(t, s, b)
	id1, id2 := ItemID{1}, ItemID{2}
	// The second reply is for a source that does not exist: nothing is stored.
	_, err := s.AddReplies([]NewReply{{Source: a, ID: id1, Data: []byte("one")}, {Source: srcID(9), ID: id2, Data: []byte("two")}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if l, _ := s.Replies(a); len(l) != 0 {
		t.Fatalf("a failed batch stored %d replies", len(l))
	}
	batch := []NewReply{{Source: a, ID: id1, Data: []byte("one")}, {Source: b, ID: id2, Data: bytes.Repeat([]byte("x"), 3*(4<<10)+1)}}
	if already, err := s.AddReplies(batch); err != nil || already != 0 {
		t.Fatalf("AddReplies = %d, %v", already, err)
	}
	// Pushing the same bundle again changes nothing.
	if already, err := s.AddReplies(batch); err != nil || already != 2 {
		t.Fatalf("second AddReplies = %d, %v; want 2 already", already, err)
	}
	rc, err := s.OpenReply(b, id2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, batch[1].Data) {
		t.Fatalf("reply read back: %d bytes, %v", len(got), err)
	}
	// Same ID, other bytes: refused; same ID under another source: refused.
	for _, r := range []NewReply{{Source: a, ID: id1, Data: []byte("changed")}, {Source: b, ID: id1, Data: []byte("one")}} {
		if _, err := s.AddReplies([]NewReply{r}); !errors.Is(err, ErrExists) {
			t.Errorf("conflicting reply: err = %v, want ErrExists", err)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
