package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = [...]string{
	"landing", "new", "codename", "notconfirmed", "login", "submit",
	"receipt", "replies", "reply", "resources", "error",
}

// pages holds every page template of every language: pages[lang][name].
type pages map[string]map[string]*template.Template

// parsePages parses the embedded templates once per language, binding the
// template function "t" to that language's catalogue.
func parsePages() (pages, error) {
	cats := catalogs()
	p := make(pages)
	for _, name := range pageNames {
		base, err := template.New(name).
			Funcs(template.FuncMap{"t": translator(nil)}).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing template %q: %w", name, err)
		}
		for _, lang := range languages {
			t, err := base.Clone()
			if err != nil {
				return nil, fmt.Errorf("cloning template %q: %w", name, err)
			}
			t.Funcs(template.FuncMap{"t": translator(cats[lang])})
			if p[lang] == nil {
				p[lang] = make(map[string]*template.Template)
			}
			p[lang][name] = t
		}
	}
	return p, nil
}

// langLink is one entry of the language links in the footer.
type langLink struct {
	Code, Name, Href string
	Current          bool
}

// pageData is what every template receives. Page-specific fields are left
// zero by the pages that do not use them.
type pageData struct {
	Lang     string
	Title    string // catalogue key of the page title
	LoggedIn bool
	CSRF     string
	Langs    []langLink

	Problem          string // catalogue key of an error or warning shown on the page
	Closed           string // catalogue key: why the submission form is closed
	Codename         string
	Message          string // the message, given back with the codename warning
	MaxCodename      int
	MaxMessageChars  int
	MaxSubmissionMiB int64
	Receipt          *receiptView
	Replies          []replyView
	Reply            *replyView
	Orgs             []organisation
}

type receiptView struct{ Messages, Files int }

type replyView struct {
	ID   string // hex reply ID, only ever shown to its own source
	Date string // YYYY-MM-DD, the only time the store keeps
	Text string
}

// newPage returns the common part of a page. rest is the path after the
// language prefix, for the language links; it never holds secrets.
func newPage(lang, title, rest string, sess *session) *pageData {
	p := &pageData{Lang: lang, Title: title}
	if sess != nil {
		p.CSRF = sess.csrf
		p.LoggedIn = sess.src != nil
	}
	for _, l := range languages {
		p.Langs = append(p.Langs, langLink{
			Code: l, Name: languageName(l), Href: "/" + l + "/" + rest, Current: l == lang,
		})
	}
	return p
}

// render writes page name with status. The page is rendered into memory
// first, so a template failure becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p *pageData) {
	var buf bytes.Buffer
	if err := h.pages[p.Lang][name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.Error("web: rendering page failed", "page", name, "err", err)
		if name == "error" {
			// Do not recurse: the error page itself is broken.
			setFixedHeaders(w.Header(), contentTypeHTML)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		h.renderError(w, p.Lang, http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError writes the generic page of an HTTP error status, in lang,
// with the fixed header set and nothing else: no detail, no Set-Cookie.
func (h *Handler) renderError(w http.ResponseWriter, lang string, status int) {
	setFixedHeaders(w.Header(), contentTypeHTML)
	title, problem := "error.title", "error.internal"
	switch status {
	case http.StatusBadRequest:
		problem = "error.badrequest"
	case http.StatusForbidden:
		title, problem = "error.forbidden.title", "error.forbidden"
	case http.StatusNotFound:
		title, problem = "error.notfound.title", "error.notfound"
	case http.StatusMethodNotAllowed:
		problem = "error.method"
	case http.StatusRequestEntityTooLarge:
		title, problem = "error.toolarge.title", "error.toolarge"
	case http.StatusServiceUnavailable:
		title, problem = "error.busy.title", "error.busy"
	}
	p := newPage(lang, title, "", nil)
	p.Problem = problem
	h.render(w, status, "error", p)
}
