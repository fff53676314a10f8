package store_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"sandyq/crypto/envelope"
	"sandyq/internal/testenv"
	"sandyq/server/store"
)

// TestStockAgeDecryptsStoredItem checks the promise of no lock-in: an item
// written through the store, extracted raw, is a standard age file that the
// stock age CLI decrypts with the journalist's identity, and what comes out
// is an envelope that parses, binds the item's context and holds the exact
// content.
func TestStockAgeDecryptsStoredItem(t *testing.T) {
	ageBin := testenv.RequireBinary(t, "age", "go install filippo.io/age/cmd/...@v1.3.2")
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "sandyq.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	for _, tc := range []struct {
		name string
		pq   bool
	}{{"post-quantum", true}, {"x25519", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var identity age.Identity
			var recipient age.Recipient
			var identityText string
			if tc.pq {
				id, err := age.GenerateHybridIdentity()
				if err != nil {
					t.Fatal(err)
				}
				identity, recipient, identityText = id, id.Recipient(), id.String()
			} else {
				id, err := age.GenerateX25519Identity()
				if err != nil {
					t.Fatal(err)
				}
				identity, recipient, identityText = id, id.Recipient(), id.String()
			}
			idFile := filepath.Join(t.TempDir(), "identity.txt")
			if err := os.WriteFile(idFile, []byte(identityText+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}

			var src store.SourceID
			rand.Read(src[:])
			if err := st.CreateSource(src, "age1example"); err != nil {
				t.Fatal(err)
			}
			w, err := st.NewItem(src, store.KindFile, [16]byte{1})
			if err != nil {
				t.Fatal(err)
			}
			content := make([]byte, 3<<20+12345) // several chunks, not aligned
			rand.Read(content)
			h := &envelope.Header{
				ItemID:    w.ID(),
				SourceID:  src,
				Kind:      envelope.File,
				Sequence:  w.Sequence(),
				Filename:  "../../отчёт\u202etxt.exe",
				MediaType: "application/octet-stream",
			}
			sealer, err := envelope.Seal(w, h, recipient)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sealer.Write(content); err != nil {
				t.Fatal(err)
			}
			if err := sealer.Close(); err != nil {
				t.Fatal(err)
			}
			items, err := st.Commit(w)
			if err != nil {
				t.Fatal(err)
			}

			// Extract the raw ciphertext.
			r, err := st.OpenItem(items[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			if int64(len(raw)) != items[0].Size {
				t.Fatalf("extracted %d bytes, item records %d", len(raw), items[0].Size)
			}
			rawFile := filepath.Join(t.TempDir(), "item.age")
			if err := os.WriteFile(rawFile, raw, 0o600); err != nil {
				t.Fatal(err)
			}

			// The stock age CLI decrypts it.
			cmd := exec.Command(ageBin, "-d", "-i", idFile, rawFile)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			plain, err := cmd.Output()
			if err != nil {
				t.Fatalf("age -d: %v: %s", err, stderr.Bytes())
			}

			// What comes out is our envelope: it parses and holds the content.
			er, err := envelope.NewReader(bytes.NewReader(plain))
			if err != nil {
				t.Fatalf("envelope from age -d does not parse: %v", err)
			}
			if err := er.Header.Matches(h); err != nil {
				t.Errorf("envelope context: %v", err)
			}
			got, err := io.ReadAll(er)
			if err != nil {
				t.Fatalf("reading envelope content: %v", err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("content differs after age -d (%d bytes, want %d)", len(got), len(content))
			}
			// Padding: the plaintext age returned is a Padmé length.
			if want := envelope.PaddedSize(h, int64(len(content))); int64(len(plain)) != want {
				t.Errorf("plaintext is %d bytes, want padded size %d", len(plain), want)
			}
			// And our own decryption path agrees.
			er2, err := envelope.Open(bytes.NewReader(raw), identity)
			if err != nil {
				t.Fatal(err)
			}
			if got2, err := io.ReadAll(er2); err != nil || !bytes.Equal(got2, content) {
				t.Errorf("envelope.Open: %v", err)
			}
		})
	}
}
