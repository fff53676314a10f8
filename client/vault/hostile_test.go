package vault

// Hostile bundles and hostile vault contents (docs/ATTACKS "The offline
// client"): names from the bundle, and files planted in the vault by
// someone else, must never make the vault read or write outside itself,
// overwrite anything, or follow a link.

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"sandyq/client/bundle"
	"sandyq/client/safename"
)

func TestHostileFilenames(t *testing.T) {
	names := []string{
		"/etc/passwd", "..", ".", "", "../", "a/../../b", `..\..\x.bat`,
		`C:\Windows\System32\x.dll`, `\\server\share\x`, "CON", "nul.txt",
		"x\x00y", "line\nbreak\r.txt", ".bashrc", "-rf", "same.txt", "same.txt",
		strings.Repeat("é", 500) + ".pdf", "\xff\xfe.bin", "a\u2215b\uff0fc.txt",
	}
	var items []testItem
	for i, n := range names {
		items = append(items, testItem{kind: bundle.File, source: 1, seq: uint64(i), filename: n, content: []byte{byte(i)}})
	}
	id := testIdentity(t)
	v, dir := newVault(t)
	rep, err := v.Import(reader(t, makeBundle(t, id, items)), []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range rep.Imported {
		if seen[e.Name] {
			t.Errorf("two items named %q", e.Name)
		}
		seen[e.Name] = true
		if e.Name != safename.Sanitize(e.Name) || strings.ContainsAny(e.Name, "/\\\x00") || len(e.Name) > safename.MaxLen {
			t.Errorf("unsafe stored name %q", e.Name)
		}
		got, err := os.ReadFile(filepath.Join(dir, e.SourceID, e.Name))
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Errorf("item %d: %v %v", i, got, err)
		}
		if string(e.OriginalFilenameBytes) != names[i] {
			t.Errorf("original name %q not kept", names[i])
		}
	}
	// Everything is one level below the source directory.
	for p := range walk(t, dir) {
		if n := strings.Count(p, string(filepath.Separator)); n > 2 {
			t.Errorf("deep path %q", p)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
		t.Errorf("written next to the vault: %v", ents)
	}
}

// plant imports nothing; it returns a fresh vault with the source directory
// of source 1 made, for files to be planted in it.
func plant(t *testing.T) (*Vault, string, string) {
	t.Helper()
	v, dir := newVault(t)
	sd := filepath.Join(dir, srcHex(1))
	if err := os.MkdirAll(filepath.Join(sd, ".meta"), 0o700); err != nil {
		t.Fatal(err)
	}
	return v, dir, sd
}

func outsideFile(t *testing.T) (string, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "precious")
	content := []byte("do not touch\n")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, content
}

func checkUntouched(t *testing.T, p string, content []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("outside file changed: %q, %v", got, err)
	}
}

func TestPlantedLinksAtImport(t *testing.T) {
	id := testIdentity(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.Message, source: 1, seq: 1, content: []byte("secret tip")}})
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, sd, outside string)
	}{
		{"symlink at the content name", func(t *testing.T, sd, outside string) {
			os.Symlink(outside, filepath.Join(sd, "msg-1.txt"))
		}},
		{"dangling symlink at the content name", func(t *testing.T, sd, outside string) {
			os.Symlink(outside+".new", filepath.Join(sd, "msg-1.txt"))
		}},
		{"hard link at the content name", func(t *testing.T, sd, outside string) {
			if err := os.Link(outside, filepath.Join(sd, "msg-1.txt")); err != nil {
				t.Skip("no hard links across these directories:", err)
			}
		}},
		{"symlink at the temporary name", func(t *testing.T, sd, outside string) {
			os.Symlink(outside, filepath.Join(sd, tmpPrefix+idHex(1)))
		}},
		{"hard link at the temporary name", func(t *testing.T, sd, outside string) {
			if err := os.Link(outside, filepath.Join(sd, tmpPrefix+idHex(1))); err != nil {
				t.Skip("no hard links across these directories:", err)
			}
		}},
		{"symlink at the record's temporary name", func(t *testing.T, sd, outside string) {
			os.Symlink(outside, filepath.Join(sd, ".meta", tmpPrefix+idHex(1)+".json"))
		}},
		{"symlink at source.json", func(t *testing.T, sd, outside string) {
			os.Symlink(outside, filepath.Join(sd, ".meta", "source.json"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _, sd := plant(t)
			outside, content := outsideFile(t)
			tc.plant(t, sd, outside)
			rep, err := v.Import(reader(t, b), []age.Identity{id})
			if strings.Contains(tc.name, "source.json") {
				// A planted source record is refused, not followed.
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("err = %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if len(rep.Imported) != 1 {
				t.Fatalf("report %+v", rep)
			} else if n := rep.Imported[0].Name; n == "msg-1.txt" && strings.Contains(tc.name, "content name") {
				t.Errorf("imported over the planted file")
			}
			checkUntouched(t, outside, content)
			if _, err := os.Lstat(outside + ".new"); err == nil {
				t.Error("created through a dangling symlink")
			}
			if err == nil {
				var out bytes.Buffer
				if err := v.Show(idHex(1), &out); err != nil || !strings.Contains(out.String(), "secret tip") {
					t.Errorf("show: %v %q", err, out.String())
				}
			}
		})
	}

	t.Run("symlink as .meta", func(t *testing.T) {
		v, dir := newVault(t)
		outDir := t.TempDir()
		sd := filepath.Join(dir, srcHex(1))
		os.Mkdir(sd, 0o700)
		os.Symlink(outDir, filepath.Join(sd, ".meta"))
		if _, err := v.Import(reader(t, b), []age.Identity{id}); !errors.Is(err, ErrUnsafeDir) {
			t.Errorf("err = %v", err)
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
			t.Errorf("written outside: %v", ents)
		}
	})
}

// TestPlantedContent replaces an imported item's content with something
// that is not the file the vault wrote: reading it is refused.
func TestPlantedContent(t *testing.T) {
	id := testIdentity(t)
	b := makeBundle(t, id, []testItem{{kind: bundle.Message, source: 1, seq: 1, content: []byte("tip")}})
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, content, outside string)
	}{
		{"symlink", func(t *testing.T, content, outside string) { os.Symlink(outside, content) }},
		{"hard link", func(t *testing.T, content, outside string) {
			if err := os.Link(outside, content); err != nil {
				t.Skip("no hard links:", err)
			}
		}},
		{"second link to the content", func(t *testing.T, content, outside string) {
			os.WriteFile(content, []byte("tip"), 0o600)
			os.Link(content, content+".copy")
		}},
		{"fifo", func(t *testing.T, content, outside string) {
			if err := mkfifo(content); err != nil {
				t.Skip("mkfifo:", err)
			}
		}},
		{"directory", func(t *testing.T, content, outside string) { os.Mkdir(content, 0o700) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, dir := newVault(t)
			rep, err := v.Import(reader(t, b), []age.Identity{id})
			if err != nil {
				t.Fatal(err)
			}
			content := filepath.Join(dir, rep.Imported[0].Path())
			os.Remove(content)
			outside, _ := outsideFile(t)
			tc.plant(t, content, outside)
			done := make(chan error, 2)
			go func() {
				done <- v.Show(idHex(1), io.Discard)
				_, f, err := v.OpenContent(idHex(1))
				if f != nil {
					f.Close()
				}
				done <- err
			}()
			for range 2 {
				select {
				case err := <-done:
					if !errors.Is(err, ErrNotRegular) {
						t.Errorf("err = %v, want ErrNotRegular", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("blocked reading a planted file")
				}
			}
		})
	}
}
