package web

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCatalogKeys checks that every catalogue has exactly the same keys,
// that every key a template or the Go code uses exists, and that a text
// takes the same fmt arguments in every language.
func TestCatalogKeys(t *testing.T) {
	cats := catalogs()
	en := cats["en"]
	for _, lang := range languages {
		cat := cats[lang]
		if cat == nil {
			t.Fatalf("no catalogue for %q", lang)
		}
		for k := range en {
			if _, ok := cat[k]; !ok {
				t.Errorf("%s: missing key %q", lang, k)
			}
		}
		for k, v := range cat {
			if _, ok := en[k]; !ok {
				t.Errorf("%s: key %q is not in the English catalogue", lang, k)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: key %q is empty", lang, k)
			}
			if got, want := verbs(v), verbs(en[k]); !slices.Equal(got, want) {
				t.Errorf("%s: key %q has verbs %q, English has %q", lang, k, got, want)
			}
		}
	}

	used := usedKeys(t)
	for k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is used but not in the catalogues", k)
		}
	}
	for k := range en {
		if !used[k] {
			t.Errorf("key %q is in the catalogues but never used", k)
		}
	}
}

var verbRE = regexp.MustCompile(`%[dsvq]`)

func verbs(s string) []string { return verbRE.FindAllString(s, -1) }

// usedKeys collects the catalogue keys that templates and Go code name:
// {{t "key"}} in templates, and quoted dotted keys in this package's Go.
func usedKeys(t *testing.T) map[string]bool {
	used := make(map[string]bool)
	tmplRE := regexp.MustCompile(`\{\{t "([a-z0-9.]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		for _, m := range tmplRE.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Keys chosen in Go: page titles, problems, reasons, organisations.
	for _, k := range []string{
		"landing.title", "resources.title", "new.title", "login.title", "submit.title",
		"receipt.title", "replies.title", "reply.title", "codename.title", "notconfirmed.title",
		"login.failed", "closed.noset", "closed.disk", "submit.codename", "submit.messagetoolong",
		"submit.empty", "submit.failed",
		"error.title", "error.internal", "error.badrequest", "error.forbidden.title", "error.forbidden",
		"error.notfound.title", "error.notfound", "error.method", "error.toolarge.title",
		"error.toolarge", "error.busy.title", "error.busy",
	} {
		used[k] = true
	}
	for _, o := range organisations() {
		used[o.Name], used[o.About] = true, true
	}
	return used
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"en-US,en;q=0.5", "en"}, // what Tor Browser sends by default
		{"ru-RU,ru;q=0.9,en;q=0.8", "ru"},
		{"kk-KZ,kk;q=0.9,ru;q=0.8", "kk"},
		{"de-DE,de;q=0.9", "en"},
		{"de,ru;q=0.3,kk;q=0.4", "kk"},
		{"RU", "ru"},
		{"ru;q=0", "en"},
		{"ru;q=2,kk", "kk"}, // invalid q skipped
		{"ru;foo=1,kk;q=0.1", "kk"},
		{"*", "en"},
		{strings.Repeat("x,", 2000) + "ru", "en"}, // beyond the bound
	} {
		if got := negotiate(tc.header); got != tc.want {
			t.Errorf("negotiate(%.40q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add("ru-RU,ru;q=0.9,en;q=0.8")
	f.Add("kk;q=0.5, ru;q=0.4")
	f.Add(";;,,q=,=;")
	f.Fuzz(func(t *testing.T, header string) {
		if got := negotiate(header); !isLanguage(got) {
			t.Errorf("negotiate(%q) = %q", header, got)
		}
	})
}
