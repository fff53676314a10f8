package backup

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"
)

// seedManifest is a valid manifest.
func seedManifest() []byte {
	m := &manifest{
		Day:      time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		Instance: "sandyq-instance1qqqq",
		Sources:  1, Items: 2, Replies: 0, LastCursor: 7,
		Onions: []Onion{{"source", "nlfg5fhoxgn7u2jfxyjrvy4s5cvgohk6zi4ff3ce7h7vnggzjtesdkad.onion"}},
		Files: []fileEntry{
			{Name: "pepper", Size: 32},
			{Name: "instance.key", Size: 87},
			{Name: "onion/services/source/hs_ed25519_secret_key", Size: 96},
			{Name: "sandyq.db", Size: 32768},
		},
	}
	return m.marshal()
}

// FuzzParseManifest: a manifest that parses marshals back to the same
// bytes (one text, one meaning), and nothing panics.
func FuzzParseManifest(f *testing.F) {
	f.Add(seedManifest())
	f.Add([]byte(manifestMagic + "\n"))
	f.Add(bytes.Replace(seedManifest(), []byte("items: 2"), []byte("items: 02"), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err != nil {
			return
		}
		if got := m.marshal(); !bytes.Equal(got, data) {
			t.Fatalf("parse→marshal changed the manifest:\n%q\n%q", data, got)
		}
	})
}

// FuzzReadEntries feeds the archive reader arbitrary tar bytes (what age
// would have decrypted): it returns an error or an archive, never panics,
// and never accepts an entry outside the fixed set.
func FuzzReadEntries(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		data []byte
	}{{"pepper", make([]byte, 32)}, {"sandyq.db", []byte("db")}, {ManifestName, seedManifest()}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o600})
		tw.Write(e.data)
	}
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := readEntries(tar.NewReader(bytes.NewReader(data)), func(size int64, r io.Reader) error {
			return copyEntry(io.Discard, r, size, make([]byte, 4096))
		})
		if err != nil {
			return
		}
		for name := range a.small {
			if _, ok := parseName(name); !ok {
				t.Fatalf("accepted entry %q", name)
			}
		}
	})
}
