package safename

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestUnique(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		taken []string
		want  string
	}{
		{"free", "report.pdf", nil, "report.pdf"},
		{"second", "report.pdf", []string{"report.pdf"}, "report (2).pdf"},
		{"third", "report.pdf", []string{"report.pdf", "report (2).pdf"}, "report (3).pdf"},
		{"no ext", "README", []string{"README"}, "README (2)"},
		{"double ext", "a.tar.gz", []string{"a.tar.gz"}, "a.tar (2).gz"},
		{"sanitized first", "../x.txt", []string{"_x.txt"}, "_x (2).txt"},
		{"fallback", "..", []string{"file"}, "file (2)"},
		{"reserved", "con.txt", []string{"_con.txt"}, "_con (2).txt"},
		{
			"long",
			strings.Repeat("a", 300) + ".pdf",
			[]string{strings.Repeat("a", 251) + ".pdf"},
			strings.Repeat("a", 247) + " (2).pdf",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, n := range tt.taken {
				fsys[n] = &fstest.MapFile{}
			}
			got, err := Unique(tt.in, InDir(fsys))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Unique(%q) = %q, want %q", trunc(tt.in), got, tt.want)
			}
			checkInvariants(t, tt.in, got)
		})
	}
}

func TestUniqueExhausted(t *testing.T) {
	calls := 0
	seen := map[string]bool{}
	_, err := Unique("x.txt", func(name string) (bool, error) {
		calls++
		if seen[name] {
			t.Fatalf("candidate %q tried twice", name)
		}
		seen[name] = true
		checkInvariants(t, "x.txt", name)
		return true, nil
	})
	if !errors.Is(err, ErrNoUniqueName) {
		t.Fatalf("err = %v, want ErrNoUniqueName", err)
	}
	if calls != MaxAttempts {
		t.Errorf("exists called %d times, want %d", calls, MaxAttempts)
	}
}

func TestUniqueLongSuffixStaysShort(t *testing.T) {
	name := strings.Repeat("Ж", 200) + ".jpeg"
	n := 0
	got, err := Unique(name, func(c string) (bool, error) {
		checkInvariants(t, name, c)
		n++
		return n < 999, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got, " (999).jpeg") || len(got) > MaxLen {
		t.Errorf("Unique = %q (%d bytes)", got, len(got))
	}
}

func TestUniqueExistsError(t *testing.T) {
	boom := errors.New("permission denied")
	_, err := Unique("x", func(string) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapped %v", err, boom)
	}
}

func TestInDirDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "report.pdf")); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	got, err := Unique("report.pdf", InDir(os.DirFS(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if got != "report (2).pdf" {
		t.Errorf("Unique = %q, want %q (a dangling symlink is taken)", got, "report (2).pdf")
	}
}
