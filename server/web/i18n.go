package web

import (
	"fmt"
	"strconv"
	"strings"
)

// languages are the interface languages, in the order the language links
// show them. The first is the fallback.
var languages = [...]string{"en", "ru", "kk"}

// languageName is a language's name in itself, for the language links.
func languageName(l string) string {
	switch l {
	case "ru":
		return "Русский"
	case "kk":
		return "Қазақша"
	default:
		return "English"
	}
}

// catalogs returns the message catalogue of every language: key → text.
// Texts are plain; the templates add the markup. A text may hold fmt verbs
// for the arguments the template passes.
func catalogs() map[string]map[string]string {
	return map[string]map[string]string{
		"en": catalogEnglish(),
		"ru": catalogRussian(),
		"kk": catalogKazakh(),
	}
}

func isLanguage(s string) bool {
	for _, l := range languages {
		if s == l {
			return true
		}
	}
	return false
}

// Bounds on the Accept-Language header we are willing to read.
const (
	maxAcceptLanguage    = 1024
	maxAcceptLanguageTag = 32
)

// negotiate picks the interface language from an Accept-Language header:
// the supported language with the highest quality, the earliest on a tie,
// English when none matches. Only the primary subtag matters ("ru-KZ" is
// "ru"); a malformed entry is skipped. Tor Browser sends "en-US,en" unless
// its user changed that, so the language links matter more than this.
func negotiate(header string) string {
	if len(header) > maxAcceptLanguage {
		header = header[:maxAcceptLanguage]
	}
	best, bestQ := languages[0], -1.0
	for i, entry := range strings.Split(header, ",") {
		if i >= maxAcceptLanguageTag {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(entry), ";")
		q := 1.0
		if params != "" {
			k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
			if !ok || strings.TrimSpace(k) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
		primary = strings.ToLower(primary)
		if isLanguage(primary) && q > bestQ && q > 0 {
			best, bestQ = primary, q
		}
	}
	return best
}

// translator returns the template function "t" of one language. A missing
// key is an error, which fails the page (a test checks that every key the
// templates use exists in every catalogue).
func translator(catalog map[string]string) func(key string, args ...any) (string, error) {
	return func(key string, args ...any) (string, error) {
		text, ok := catalog[key]
		if !ok {
			return "", fmt.Errorf("missing message %q", key)
		}
		if len(args) > 0 {
			text = fmt.Sprintf(text, args...)
		}
		return text, nil
	}
}
