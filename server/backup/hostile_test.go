package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"sandyq/server/store"
)

// entry is one tar entry of a hand-built archive.
type entry struct {
	hdr  tar.Header
	data []byte
}

// decodeArchive decrypts a backup and returns its entries.
func decodeArchive(t *testing.T, data []byte, id age.Identity) []entry {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	var out []entry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		h := *hdr
		h.Size, h.Format = 0, tar.FormatUnknown // encodeArchive sets them
		out = append(out, entry{h, b})
	}
}

// encodeArchive writes entries as tar (headers as given; Size from the
// data unless the header sets it), appends trailer, and encrypts to rcpt.
func encodeArchive(t *testing.T, entries []entry, trailer []byte, rcpt age.Recipient) []byte {
	t.Helper()
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Size == 0 && hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("WriteHeader %q: %v", hdr.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil && len(e.data) > 0 && hdr.Size >= int64(len(e.data)) {
			t.Fatalf("Write %q: %v", hdr.Name, err)
		}
	}
	if err := tw.Flush(); err != nil && err != tar.ErrWriteTooLong {
		// A header that claims more bytes than given leaves the entry
		// short: that is the point of the test that makes it.
		_ = err
	}
	tw.Close()
	plain.Write(trailer)
	var out bytes.Buffer
	w, err := age.Encrypt(&out, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain.Bytes())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// reg is a regular file entry.
func reg(name string, data []byte) entry {
	return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600}, data}
}

// find returns the index of the entry named name.
func find(t *testing.T, es []entry, name string) int {
	t.Helper()
	i := slices.IndexFunc(es, func(e entry) bool { return e.hdr.Name == name })
	if i < 0 {
		t.Fatalf("no entry %q", name)
	}
	return i
}

// remanifest rewrites the manifest (the last entry) so that its file list
// matches the other entries, after edit (if any) changed the rest.
func remanifest(t *testing.T, es []entry, edit func(m *manifest)) []entry {
	t.Helper()
	last := len(es) - 1
	m, err := parseManifest(es[last].data)
	if err != nil {
		t.Fatal(err)
	}
	m.Files = nil
	for _, e := range es[:last] {
		m.Files = append(m.Files, fileEntry{Name: e.hdr.Name, Size: int64(len(e.data)), SHA256: sha256.Sum256(e.data)})
	}
	if edit != nil {
		edit(m)
	}
	es[last] = reg(ManifestName, m.marshal())
	return es
}

// TestHostile feeds Restore and Inspect backups that are wrong in one way
// each: every one is refused with the precise error, and nothing is left
// at the destination or beside it.
func TestHostile(t *testing.T) {
	f := newFixture(t, 10)
	id := newIdentity(t)
	rcpt := id.Recipient()
	good := backupBytes(t, f, rcpt)
	base := decodeArchive(t, good, id)
	if got := base[len(base)-1].hdr.Name; got != ManifestName {
		t.Fatalf("last entry %q", got)
	}
	// A store with one flipped byte inside an item's ciphertext; the
	// manifest is made to match, so only store.Check can find it.
	var flippedStore []byte
	{
		db := base[find(t, base, "sandyq.db")].data
		items, _ := f.st.ListItems(0, 0)
		var it store.Item
		for _, x := range items {
			if x.Size > 1000 {
				it = x
				break
			}
		}
		r, _ := f.st.OpenItem(it.ID)
		ct, _ := io.ReadAll(r)
		r.Close()
		i := bytes.Index(db, ct[:600])
		if i < 0 {
			t.Fatal("item ciphertext not found in the snapshot")
		}
		flippedStore = bytes.Clone(db)
		flippedStore[i+300] ^= 1
	}
	other := newIdentity(t)
	otherFix := newFixture(t, 11)

	type mutate func(t *testing.T, es []entry) []entry
	archive := func(m mutate) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			es := slices.Clone(base)
			return encodeArchive(t, m(t, es), nil, rcpt)
		}
	}
	for _, tc := range []struct {
		name    string
		backup  func(t *testing.T) []byte
		want    []error
		text    string
		inspect error // what Inspect says, if not the same as Restore
	}{
		{name: "wrong identity", backup: func(t *testing.T) []byte { return backupBytes(t, f, other.Recipient()) },
			want: []error{ErrIdentity, age.ErrIncorrectIdentity}},
		{name: "empty file", backup: func(t *testing.T) []byte { return nil }, want: []error{ErrNotBackup}},
		{name: "not an age file", backup: func(t *testing.T) []byte { return []byte("hello, this is a text file\n") }, want: []error{ErrNotBackup}},
		{name: "bad age header", backup: func(t *testing.T) []byte { return []byte(ageMagic + "-> X25519 garbage\n---\n") }, want: []error{ErrDamaged}},
		{name: "truncated in the middle", backup: func(t *testing.T) []byte { return good[:len(good)/2] }, want: []error{ErrDamaged}},
		{name: "truncated by one byte", backup: func(t *testing.T) []byte { return good[:len(good)-1] }, want: []error{ErrDamaged}},
		{name: "cut at a chunk boundary", backup: func(t *testing.T) []byte {
			// the header, then exactly one full 64 KiB chunk + tag: age
			// must notice the missing last chunk.
			hdrLen := bytes.Index(good, []byte("\n---")) + 1
			hdrLen += bytes.IndexByte(good[hdrLen:], '\n') + 1 + 16 // MAC line, nonce
			return good[:hdrLen+64<<10+16]
		}, want: []error{ErrDamaged}},
		{name: "flipped byte", backup: func(t *testing.T) []byte {
			b := bytes.Clone(good)
			b[len(b)/2] ^= 0x40
			return b
		}, want: []error{ErrDamaged}},
		{name: "appended bytes", backup: func(t *testing.T) []byte { return append(bytes.Clone(good), 0) }, want: []error{ErrDamaged}},
		{name: "unknown name", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Insert(es, 0, reg("evil", []byte("x")))
		}), want: []error{ErrMalformed}, text: `unknown entry "evil"`},
		{name: "dot-dot name", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Insert(es, 0, reg("../pepper", make([]byte, 32)))
		}), want: []error{ErrMalformed}, text: `unknown entry "../pepper"`},
		{name: "dot-dot inside onion", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Insert(es, 3, reg("onion/services/../../../x/hostname", []byte("x")))
		}), want: []error{ErrMalformed}, text: "unknown entry"},
		{name: "absolute name", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0].hdr.Name = "/pepper"
			return es
		}), want: []error{ErrMalformed}, text: `unknown entry "/pepper"`},
		{name: "tor state", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Insert(es, 3, reg("onion/tor/state", []byte("x")))
		}), want: []error{ErrMalformed}, text: "unknown entry"},
		{name: "symlink", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0] = entry{tar.Header{Typeflag: tar.TypeSymlink, Name: "pepper", Linkname: "/etc/passwd"}, nil}
			return es
		}), want: []error{ErrMalformed}, text: `"pepper" is a symbolic link`},
		{name: "hard link", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0] = entry{tar.Header{Typeflag: tar.TypeLink, Name: "pepper", Linkname: "instance.key"}, nil}
			return es
		}), want: []error{ErrMalformed}, text: "is a hard link"},
		{name: "directory", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Insert(es, 3, entry{tar.Header{Typeflag: tar.TypeDir, Name: "onion/", Mode: 0o700}, nil})
		}), want: []error{ErrMalformed}, text: "is a directory"},
		{name: "device", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0] = entry{tar.Header{Typeflag: tar.TypeChar, Name: "pepper", Devmajor: 1, Devminor: 3}, nil}
			return es
		}), want: []error{ErrMalformed}, text: "not a regular file"},
		{name: "extended header record", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0].hdr.PAXRecords = map[string]string{"comment": "hi"}
			es[0].hdr.Format = tar.FormatPAX
			return es
		}), want: []error{ErrMalformed}, text: "extended header"},
		{name: "oversized pepper", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0].data = make([]byte, 33)
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed}, text: `"pepper" has a size out of range (33 bytes)`},
		{name: "oversized instance key", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "instance.key")
			es[i].data = append(bytes.Repeat([]byte(" "), 2000), es[i].data...)
			return es
		}), want: []error{ErrMalformed}, text: "size out of range (2"},
		{name: "oversized manifest", backup: archive(func(t *testing.T, es []entry) []entry {
			es[len(es)-1].data = append(es[len(es)-1].data, bytes.Repeat([]byte("x"), maxManifest)...)
			return es
		}), want: []error{ErrMalformed}, text: `"manifest" has a size out of range`},
		{name: "store larger than the disk", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "sandyq.db")
			es[i].hdr.Size = 1 << 60 // and no bytes: Restore must not start copying
			es[i].data = nil
			return es[:i+1]
		}), want: []error{ErrNoSpace}, inspect: ErrMalformed},
		{name: "duplicate entry", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Insert(es, 1, es[0])
		}), want: []error{ErrMalformed}, text: `"pepper" is out of order or repeated`},
		{name: "out of order", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "sandyq.db")
			es[0], es[i] = es[i], es[0]
			return es
		}), want: []error{ErrMalformed}, text: "out of order"},
		{name: "entry after the manifest", backup: archive(func(t *testing.T, es []entry) []entry {
			return append(es, reg("pepper", make([]byte, 32)))
		}), want: []error{ErrMalformed}, text: "after the manifest"},
		{name: "no manifest", backup: archive(func(t *testing.T, es []entry) []entry {
			return es[:len(es)-1]
		}), want: []error{ErrMalformed}, text: "manifest is missing"},
		{name: "empty archive", backup: archive(func(t *testing.T, es []entry) []entry { return nil }),
			want: []error{ErrMalformed}, text: "manifest is missing"},
		{name: "manifest lists a missing file", backup: archive(func(t *testing.T, es []entry) []entry {
			return slices.Delete(es, find(t, es, "onion/services/source/hostname"), find(t, es, "onion/services/source/hostname")+1)
		}), want: []error{ErrMalformed}, text: `the manifest lists "onion/services/source/hostname", which the archive does not hold`},
		{name: "file not in the manifest", backup: archive(func(t *testing.T, es []entry) []entry {
			return remanifest(t, es, func(m *manifest) { m.Files = slices.Delete(m.Files, 1, 2) })
		}), want: []error{ErrMalformed}, text: `the archive holds "newsroom.pub", which the manifest does not list`},
		{name: "hash mismatch", backup: archive(func(t *testing.T, es []entry) []entry {
			es[0].data = bytes.Repeat([]byte{1}, 32)
			return es
		}), want: []error{ErrMalformed}, text: `the SHA-256 of "pepper" does not match`},
		{name: "size mismatch", backup: archive(func(t *testing.T, es []entry) []entry {
			return remanifest(t, es, func(m *manifest) { m.Files[2].Size++ })
		}), want: []error{ErrMalformed}, text: `"instance.key" has`},
		{name: "store missing", backup: archive(func(t *testing.T, es []entry) []entry {
			es = slices.Delete(es, find(t, es, "sandyq.db"), find(t, es, "sandyq.db")+1)
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed}, text: "the store is missing"},
		{name: "pepper missing", backup: archive(func(t *testing.T, es []entry) []entry {
			return remanifest(t, es[1:], nil)
		}), want: []error{ErrMalformed}, text: "the pepper is missing"},
		{name: "data after the archive", backup: func(t *testing.T) []byte {
			return encodeArchive(t, slices.Clone(base), []byte("trailing"), rcpt)
		}, want: []error{ErrMalformed}, text: "data after the end of the archive"},
		{name: "store entry cut short", backup: func(t *testing.T) []byte {
			es := slices.Clone(base)
			i := find(t, es, "sandyq.db")
			var plain bytes.Buffer
			tw := tar.NewWriter(&plain)
			for _, e := range es[:i] {
				e.hdr.Size = int64(len(e.data))
				tw.WriteHeader(&e.hdr)
				tw.Write(e.data)
			}
			h := es[i].hdr
			h.Size = int64(len(es[i].data))
			tw.WriteHeader(&h)
			tw.Write(es[i].data[:len(es[i].data)/2])
			tw.Flush() // ErrWriteTooLong is not returned; the entry is short
			var out bytes.Buffer
			w, _ := age.Encrypt(&out, rcpt)
			w.Write(plain.Bytes())
			w.Close()
			return out.Bytes()
		}, want: []error{ErrMalformed}, text: "ends early"},
		{name: "manifest day", backup: archive(func(t *testing.T, es []entry) []entry {
			m := es[len(es)-1].data
			es[len(es)-1].data = bytes.Replace(m, []byte("day: 2025-03-01"), []byte("day: 2025-3-1"), 1)
			return es
		}), want: []error{ErrMalformed}, text: "day is not YYYY-MM-DD"},
		{name: "manifest with CR", backup: archive(func(t *testing.T, es []entry) []entry {
			es[len(es)-1].data = bytes.ReplaceAll(es[len(es)-1].data, []byte("\n"), []byte("\r\n"))
			return es
		}), want: []error{ErrMalformed}, text: "not printable ASCII"},
		{name: "manifest number with leading zero", backup: archive(func(t *testing.T, es []entry) []entry {
			es[len(es)-1].data = bytes.Replace(es[len(es)-1].data, []byte("sources: "), []byte("sources: 0"), 1)
			return es
		}), want: []error{ErrMalformed}, text: "sources is not a number"},
		{name: "manifest instance key", backup: archive(func(t *testing.T, es []entry) []entry {
			other, _ := otherFix.dir.InstanceKey()
			return remanifest(t, es, func(m *manifest) { m.Instance = other.Public().String() })
		}), want: []error{ErrMalformed}, text: "another instance key"},
		{name: "manifest onion address", backup: archive(func(t *testing.T, es []entry) []entry {
			return remanifest(t, es, func(m *manifest) { m.Onions[0].Addr = otherFix.onions["journalist"] })
		}), want: []error{ErrMalformed}, text: "onion addresses are not those of the onion keys"},
		{name: "manifest onion missing", backup: archive(func(t *testing.T, es []entry) []entry {
			return remanifest(t, es, func(m *manifest) { m.Onions = m.Onions[1:] })
		}), want: []error{ErrMalformed}, text: "onion addresses"},
		{name: "onion secret key of another service", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "onion/services/source/hs_ed25519_secret_key")
			es[i].data = es[find(t, es, "onion/services/journalist/hs_ed25519_secret_key")].data
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed}, text: "do not belong together"},
		{name: "onion public key missing", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "onion/services/source/hs_ed25519_public_key")
			return remanifest(t, slices.Delete(es, i, i+1), nil)
		}), want: []error{ErrMalformed}, text: "hs_ed25519_public_key is missing"},
		{name: "hostname of another key", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "onion/services/source/hostname")
			es[i].data = []byte(otherFix.onions["source"] + "\n")
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed}, text: "hostname does not hold the address"},
		{name: "secret key pasted as newsroom key", backup: archive(func(t *testing.T, es []entry) []entry {
			i := find(t, es, "newsroom.pub")
			es[i].data = es[find(t, es, "instance.key")].data
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed}, text: "does not hold a newsroom public key"},
		{name: "item counts", backup: archive(func(t *testing.T, es []entry) []entry {
			return remanifest(t, es, func(m *manifest) { m.Items++ })
		}), want: []error{ErrMalformed}, text: "the manifest says", inspect: nil},
		{name: "damaged store", backup: archive(func(t *testing.T, es []entry) []entry {
			es[find(t, es, "sandyq.db")].data = flippedStore
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed, store.ErrCorrupt}, text: "fails its check", inspect: nil},
		{name: "not a store", backup: archive(func(t *testing.T, es []entry) []entry {
			es[find(t, es, "sandyq.db")].data = []byte(strings.Repeat("not bbolt ", 1000))
			return remanifest(t, es, nil)
		}), want: []error{ErrMalformed, store.ErrCorrupt}, text: "does not open", inspect: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.backup(t)
			parent := t.TempDir()
			dst := filepath.Join(parent, "data")
			info, err := Restore(bytes.NewReader(data), []age.Identity{id}, dst)
			if info != nil {
				t.Errorf("Restore returned %+v", info)
			}
			wantErr(t, err, tc.want...)
			if tc.text != "" {
				wantErrText(t, err, tc.text)
			}
			if _, err := os.Lstat(dst); !os.IsNotExist(err) {
				t.Errorf("destination exists after a failed restore: %v", err)
			}
			noLeftovers(t, parent)

			_, err = Inspect(bytes.NewReader(data), []age.Identity{id})
			switch {
			case tc.inspect != nil:
				wantErr(t, err, tc.inspect)
			case slices.Contains(tc.want, store.ErrCorrupt) || strings.Contains(tc.text, "the manifest says"):
				// Needs the store on disk: Restore only.
				if err != nil {
					t.Errorf("Inspect: %v", err)
				}
			default:
				wantErr(t, err, tc.want...)
			}
		})
	}
}

// TestErrorsSayNoSecrets: no error repeats the bytes of a key or of the
// pepper, whatever is wrong with them.
func TestErrorsSayNoSecrets(t *testing.T) {
	f := newFixture(t, 12)
	id := newIdentity(t)
	base := decodeArchive(t, backupBytes(t, f, id.Recipient()), id)
	secrets := []string{"pepper", "instance.key", "onion/services/source/hs_ed25519_secret_key"}
	for _, name := range secrets {
		es := slices.Clone(base)
		i := find(t, es, name)
		secret := bytes.Clone(es[i].data)
		es[i].data = append(bytes.Clone(secret), secret...) // wrong size
		data := encodeArchive(t, remanifest(t, es, nil), nil, id.Recipient())
		_, err := Restore(bytes.NewReader(data), []age.Identity{id}, filepath.Join(t.TempDir(), "d"))
		if err == nil {
			t.Fatalf("%s: doubled, accepted", name)
		}
		msg := err.Error()
		for _, s := range []string{string(secret), string(bytes.TrimSpace(secret)), string(secret[len(secret)-16:])} {
			if strings.Contains(msg, s) {
				t.Errorf("%s: the error repeats the secret: %v", name, err)
			}
		}
	}
}
