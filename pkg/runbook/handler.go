package runbook

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string

	pageTemplate = template.Must(template.New("page").Parse(pageHTML))

	// contentSecurityPolicy forbids scripts, frames, forms and plugins:
	// default-src 'none' covers them, and only the page's own inline
	// stylesheet (by its hash) and images are allowed.
	contentSecurityPolicy = "default-src 'none'; style-src '" + cssHash(pageCSS) +
		"'; img-src 'self' https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// Page titles of the pages that are not runbooks.
const (
	indexTitle    = "Runbooks"
	notFoundTitle = "Runbook not found"
)

// page is one rendered response.
type page struct {
	body []byte
	etag string
}

// entry is one runbook in the index.
type entry struct {
	Name, Title, Href string
}

// pageData is what page.html renders.
type pageData struct {
	Title    string
	CSS      template.CSS
	Index    string
	Body     template.HTML
	Entries  []entry
	IsIndex  bool
	NotFound bool
}

type handler struct {
	prefix   string
	pages    map[string]page // by runbook name; "" is the index
	notFound []byte
	logger   *slog.Logger
}

// NewHandler serves the Markdown runbooks at the root of fsys, <name>.md,
// rendered as HTML pages: the index of every runbook and its title at
// prefix, and each runbook at <prefix><name> and <prefix><name>.md. The
// prefix is a URL path that begins and ends with "/", such as "/runbooks/".
//
// Every runbook is rendered once, here; a runbook that cannot be read,
// has a name other than letters, digits, "-" and "_", or has no "# " title
// fails the construction. Raw HTML in the Markdown is not passed through,
// and the pages forbid scripts.
func NewHandler(fsys fs.FS, prefix string, logger *slog.Logger) (http.Handler, error) {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("runbook prefix %q must begin and end with /", prefix)
	}
	h := &handler{prefix: prefix, pages: map[string]page{}, logger: logger}
	entries, err := h.load(fsys)
	if err != nil {
		return nil, err
	}
	index, err := h.render(pageData{Title: indexTitle, Entries: entries, IsIndex: true})
	if err != nil {
		return nil, err
	}
	h.pages[""] = newPage(index)
	if h.notFound, err = h.render(pageData{Title: notFoundTitle, NotFound: true}); err != nil {
		return nil, err
	}
	logger.Debug("runbooks loaded", "count", len(entries), "prefix", prefix)
	return h, nil
}

// load renders every runbook of fsys into h.pages and returns the index.
func (h *handler) load(fsys fs.FS) ([]entry, error) {
	files, err := fs.Glob(fsys, "*.md")
	if err != nil {
		return nil, fmt.Errorf("listing runbooks: %w", err)
	}
	md := newMarkdown()
	var entries []entry
	for _, file := range files {
		name := strings.TrimSuffix(file, ".md")
		if !validName(name) {
			return nil, fmt.Errorf("runbook %s: the name must be letters, digits, - and _", file)
		}
		title, body, err := h.renderRunbook(md, fsys, file)
		if err != nil {
			return nil, fmt.Errorf("runbook %s: %w", file, err)
		}
		h.pages[name] = newPage(body)
		entries = append(entries, entry{Name: name, Title: title, Href: h.prefix + name})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return strings.Compare(strings.ToLower(a.Title)+"\x00"+a.Name, strings.ToLower(b.Title)+"\x00"+b.Name)
	})
	return entries, nil
}

func newMarkdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	)
}

// renderRunbook renders one runbook file into a full page.
func (h *handler) renderRunbook(md goldmark.Markdown, fsys fs.FS, file string) (title string, body []byte, err error) {
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		return "", nil, fmt.Errorf("reading: %w", err)
	}
	doc := md.Parser().Parse(text.NewReader(src))
	title = firstHeading(doc, src)
	if title == "" {
		return "", nil, errors.New(`no title: the runbook must have a "# " heading`)
	}
	var html bytes.Buffer
	if err := md.Renderer().Render(&html, src, doc); err != nil {
		return "", nil, fmt.Errorf("rendering: %w", err)
	}
	body, err = h.render(pageData{Title: title, Body: template.HTML(html.String())})
	return title, body, err
}

// render executes the page template.
func (h *handler) render(d pageData) ([]byte, error) {
	d.CSS = template.CSS(pageCSS)
	d.Index = h.prefix
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("rendering page %q: %w", d.Title, err)
	}
	return buf.Bytes(), nil
}

// firstHeading returns the text of the first level-1 heading of a parsed
// Markdown document, or "" if it has none.
func firstHeading(doc ast.Node, src []byte) string {
	var title string
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if h, ok := n.(*ast.Heading); ok && entering && h.Level == 1 {
			title = strings.TrimSpace(plainText(h, src))
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	return title
}

// plainText concatenates the text inside n.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		case *ast.RawHTML:
			// dropped, as in the rendered page
		default:
			b.WriteString(plainText(c, src))
		}
	}
	return b.String()
}

func newPage(body []byte) page {
	sum := sha256.Sum256(body)
	return page{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// validName reports whether name can be a runbook name: non-empty letters,
// digits, "-" and "_", so never a path.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}

func cssHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: runbooks are read with GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path+"/" == h.prefix {
		http.Redirect(w, r, h.prefix, http.StatusMovedPermanently)
		return
	}
	p, ok := h.lookup(r.URL.Path)
	if !ok {
		h.logger.Debug("no such runbook", "path", r.URL.Path)
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			_, _ = w.Write(h.notFound)
		}
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// Pages change only with a new build; no-cache makes browsers
	// revalidate with the ETag, so an upgrade shows at once.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", p.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.body))
}

// lookup finds the page for a request path: the index at the prefix, a
// runbook at <prefix><name> or <prefix><name>.md.
func (h *handler) lookup(path string) (page, bool) {
	rest, ok := strings.CutPrefix(path, h.prefix)
	if !ok {
		return page{}, false
	}
	if rest == "" {
		return h.pages[""], true
	}
	name := strings.TrimSuffix(rest, ".md")
	if !validName(name) {
		return page{}, false
	}
	p, ok := h.pages[name]
	return p, ok
}
