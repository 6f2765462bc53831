package runbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/runbooks"
)

const prefix = "/runbooks/"

func newHandler(t *testing.T, fsys fs.FS) http.Handler {
	t.Helper()
	h, err := NewHandler(fsys, prefix, promslog.NewNopLogger())
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

func fixtures(t *testing.T) http.Handler {
	return newHandler(t, os.DirFS("testdata/runbooks"))
}

func serve(h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGolden(t *testing.T) {
	h := fixtures(t)
	tests := []struct {
		path, golden string
		status       int
	}{
		{"/runbooks/diskfull", "diskfull.html", http.StatusOK},
		{"/runbooks/", "index.html", http.StatusOK},
		{"/runbooks/nosuchrunbook", "notfound.html", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			rec := serve(h, http.MethodGet, tt.path, nil)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if got, want := rec.Header().Get("Content-Type"), "text/html; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			testkit.Golden(t, filepath.Join("testdata", "golden", tt.golden), rec.Body.String())
		})
	}
}

func TestRendering(t *testing.T) {
	body := serve(fixtures(t), http.MethodGet, "/runbooks/diskfull", nil).Body.String()
	for _, want := range []string{
		"<title>Disk almost full</title>",
		`<h1 id="disk-almost-full">Disk <em>almost</em> full</h1>`,
		`<h2 id="immediate-actions">Immediate actions</h2>`,
		`<h2 id="immediate-actions-1">Immediate actions</h2>`,
		"<table>",
		"<td><code>df -h &lt;mountpoint&gt;</code></td>",
		"<del>nearly</del>",
		`<a href="https://example.com/disks">https://example.com/disks</a>`,
		`<a href="https://wiki.example.com/disks" title="Disks">the wiki</a>`,
		`<pre><code class="language-sh">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<a href="/runbooks/">All runbooks</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// TestRawHTMLDropped checks that HTML in a runbook is not passed through
// and dangerous link targets are emptied; text between dropped tags stays,
// as text.
func TestRawHTMLDropped(t *testing.T) {
	h := newHandler(t, fstest.MapFS{"evil.md": {Data: []byte("# Evil <script>alert(1)</script> title\n\n" +
		"<script>alert(2)</script>\n\n" +
		"text <script>alert(3)</script> <img src=x onerror=alert(4)> <iframe src=https://example.com></iframe>\n\n" +
		"[click](javascript:alert(5)) ![img](javascript:alert(6)) <javascript:alert(7)>\n\n" +
		"<div onmouseover=\"alert(8)\">block</div>\n")}})
	for _, path := range []string{"/runbooks/evil", "/runbooks/"} {
		body := serve(h, http.MethodGet, path, nil).Body.String()
		for _, bad := range []string{"<script", "onerror=", "<iframe", "onmouseover=", `href="javascript:`, `src="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q:\n%s", path, bad, body)
			}
		}
	}
	if body := serve(h, http.MethodGet, "/runbooks/", nil).Body.String(); !strings.Contains(body, `<a href="/runbooks/evil">Evil alert(1) title</a>`) {
		t.Errorf("index lacks the title without its raw HTML:\n%s", body)
	}
}

// TestContentSecurityPolicy checks that the policy forbids scripts and
// lets exactly the page's own stylesheet apply.
func TestContentSecurityPolicy(t *testing.T) {
	h := fixtures(t)
	for _, path := range []string{"/runbooks/diskfull", "/runbooks/", "/runbooks/nosuchrunbook"} {
		rec := serve(h, http.MethodGet, path, nil)
		directives := map[string]string{}
		for _, d := range strings.Split(rec.Header().Get("Content-Security-Policy"), ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		if got := directives["default-src"]; got != "'none'" {
			t.Errorf("%s: default-src = %q, want 'none'", path, got)
		}
		for _, d := range []string{"script-src", "script-src-elem", "script-src-attr", "object-src"} {
			if v, ok := directives[d]; ok {
				t.Errorf("%s: %s %s loosens default-src 'none'", path, d, v)
			}
		}
		m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("%s: no <style> element", path)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if got, want := directives["style-src"], "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'"; got != want {
			t.Errorf("%s: style-src = %q, want the stylesheet's hash %q", path, got, want)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", path, got)
		}
	}
}

var indexEntry = regexp.MustCompile(`<li><a href="([^"]*)">([^<]*)</a><code>([^<]*)</code></li>`)

func TestIndex(t *testing.T) {
	body := serve(fixtures(t), http.MethodGet, "/runbooks/", nil).Body.String()
	var got [][]string
	for _, m := range indexEntry.FindAllStringSubmatch(body, -1) {
		got = append(got, m[1:])
	}
	want := [][]string{
		{"/runbooks/another-one", "Another one", "another-one"},
		{"/runbooks/diskfull", "Disk almost full", "diskfull"},
		{"/runbooks/redisdown", "RedisDown", "redisdown"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index entries (-want +got):\n%s", diff)
	}
}

func TestEmptyIndex(t *testing.T) {
	rec := serve(newHandler(t, fstest.MapFS{}), http.MethodGet, "/runbooks/", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<p>No runbooks.</p>") {
		t.Errorf("empty index: status %d, body:\n%s", rec.Code, rec.Body)
	}
}

func TestMarkdownAlias(t *testing.T) {
	h := fixtures(t)
	page := serve(h, http.MethodGet, "/runbooks/diskfull", nil)
	alias := serve(h, http.MethodGet, "/runbooks/diskfull.md", nil)
	if alias.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", alias.Code)
	}
	if diff := cmp.Diff(page.Body.String(), alias.Body.String()); diff != "" {
		t.Errorf(".md alias differs (-page +alias):\n%s", diff)
	}
	if page.Header().Get("ETag") != alias.Header().Get("ETag") {
		t.Errorf("ETags differ: %q and %q", page.Header().Get("ETag"), alias.Header().Get("ETag"))
	}
}

func TestNotFound(t *testing.T) {
	h := fixtures(t)
	for _, path := range []string{
		"/runbooks/nosuchrunbook",
		"/runbooks/REDISDOWN",
		"/runbooks/../runbooks/redisdown",
		"/runbooks/..%2fredisdown",
		"/runbooks/%2e%2e/redisdown",
		"/runbooks/sub/redisdown",
		"/runbooks/redisdown/",
		"/runbooks/redisdown.md.md",
		"/runbooks/redisdown.html",
		"/runbooks/.redisdown",
		"/runbooks/.md",
		"/runbooks/redisdown.",
		"/runbooks/redis%00down",
		"/other/redisdown",
		"/redisdown",
	} {
		rec := serve(h, http.MethodGet, path, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status = %d, want 404", path, rec.Code)
			continue
		}
		if got, want := rec.Header().Get("Content-Type"), "text/html; charset=utf-8"; got != want {
			t.Errorf("GET %s: Content-Type = %q, want %q", path, got, want)
		}
		if !strings.Contains(rec.Body.String(), `<a href="/runbooks/">See all runbooks</a>`) {
			t.Errorf("GET %s: 404 page lacks the index link:\n%s", path, rec.Body)
		}
	}
}

func TestHead(t *testing.T) {
	h := fixtures(t)
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/runbooks/diskfull", http.StatusOK},
		{"/runbooks/", http.StatusOK},
		{"/runbooks/nosuchrunbook", http.StatusNotFound},
	} {
		get := serve(h, http.MethodGet, tt.path, nil)
		head := serve(h, http.MethodHead, tt.path, nil)
		if head.Code != tt.status {
			t.Errorf("HEAD %s: status = %d, want %d", tt.path, head.Code, tt.status)
		}
		if head.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d bytes of body", tt.path, head.Body.Len())
		}
		for _, k := range []string{"Content-Type", "ETag", "Cache-Control", "Content-Security-Policy"} {
			if head.Header().Get(k) != get.Header().Get(k) {
				t.Errorf("HEAD %s: %s = %q, GET has %q", tt.path, k, head.Header().Get(k), get.Header().Get(k))
			}
		}
	}
	head := serve(h, http.MethodHead, "/runbooks/diskfull", nil)
	get := serve(h, http.MethodGet, "/runbooks/diskfull", nil)
	if got, want := head.Header().Get("Content-Length"), get.Header().Get("Content-Length"); got != want || got == "" {
		t.Errorf("HEAD Content-Length = %q, GET %q", got, want)
	}
}

func TestETag(t *testing.T) {
	h := fixtures(t)
	first := serve(h, http.MethodGet, "/runbooks/diskfull", nil)
	etag := first.Header().Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("ETag = %q, want a quoted hash", etag)
	}
	if got := first.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache", got)
	}
	if other := serve(h, http.MethodGet, "/runbooks/redisdown", nil).Header().Get("ETag"); other == etag {
		t.Errorf("two runbooks share the ETag %s", etag)
	}
	for _, tt := range []struct {
		ifNoneMatch string
		status      int
	}{
		{etag, http.StatusNotModified},
		{`W/` + etag, http.StatusNotModified},
		{`"other", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"other"`, http.StatusOK},
	} {
		rec := serve(h, http.MethodGet, "/runbooks/diskfull", http.Header{"If-None-Match": {tt.ifNoneMatch}})
		if rec.Code != tt.status {
			t.Errorf("If-None-Match %s: status = %d, want %d", tt.ifNoneMatch, rec.Code, tt.status)
		}
		if tt.status == http.StatusNotModified && rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: 304 with %d bytes of body", tt.ifNoneMatch, rec.Body.Len())
		}
		if tt.status == http.StatusOK && !bytes.Equal(rec.Body.Bytes(), first.Body.Bytes()) {
			t.Errorf("If-None-Match %s: body differs from the first GET", tt.ifNoneMatch)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := fixtures(t)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		rec := serve(h, method, "/runbooks/diskfull", nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status = %d, want 405", method, rec.Code)
		}
		if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow = %q, want \"GET, HEAD\"", method, got)
		}
	}
}

func TestRedirectToIndex(t *testing.T) {
	rec := serve(fixtures(t), http.MethodGet, "/runbooks", nil)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/runbooks/" {
		t.Errorf("GET /runbooks: status %d, Location %q; want 301 to /runbooks/", rec.Code, rec.Header().Get("Location"))
	}
}

func TestNewHandlerErrors(t *testing.T) {
	good := fstest.MapFS{"ok.md": {Data: []byte("# OK\n")}}
	tests := []struct {
		name   string
		fsys   fs.FS
		prefix string
		err    string
	}{
		{"prefix without leading slash", good, "runbooks/", `runbook prefix "runbooks/" must begin and end with /`},
		{"prefix without trailing slash", good, "/runbooks", `runbook prefix "/runbooks" must begin and end with /`},
		{"empty prefix", good, "", `runbook prefix "" must begin and end with /`},
		{"no title", fstest.MapFS{"ok.md": {Data: []byte("# OK\n")}, "untitled.md": {Data: []byte("## Only a section\n\n#not a heading\n")}},
			"/runbooks/", `runbook untitled.md: no title: the runbook must have a "# " heading`},
		{"empty title", fstest.MapFS{"blank.md": {Data: []byte("#\n\ntext\n")}}, "/runbooks/", `runbook blank.md: no title: the runbook must have a "# " heading`},
		{"title only in a code block", fstest.MapFS{"code.md": {Data: []byte("```\n# not a title\n```\n")}}, "/runbooks/", `runbook code.md: no title: the runbook must have a "# " heading`},
		{"dotted name", fstest.MapFS{"high.errors.md": {Data: []byte("# X\n")}}, "/runbooks/", `runbook high.errors.md: the name must be letters, digits, - and _`},
		{"name with a space", fstest.MapFS{"high errors.md": {Data: []byte("# X\n")}}, "/runbooks/", `runbook high errors.md: the name must be letters, digits, - and _`},
		{"unreadable", fstest.MapFS{"dir.md/x": {Data: []byte("# X\n")}}, "/runbooks/", `runbook dir.md: reading: read dir.md: invalid argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(tt.fsys, tt.prefix, promslog.NewNopLogger())
			if err == nil {
				t.Fatalf("NewHandler succeeded (%T), want error %q", h, tt.err)
			}
			if err.Error() != tt.err {
				t.Errorf("error = %q, want %q", err, tt.err)
			}
		})
	}
}

// TestRealRunbooks renders the runbooks that ship with Klaxon.
func TestRealRunbooks(t *testing.T) {
	h := newHandler(t, runbooks.FS)
	files, err := fs.Glob(runbooks.FS, "*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("runbooks.FS holds no runbook")
	}
	titleRE := regexp.MustCompile(`<title>([^<]*)</title>`)
	for _, file := range files {
		name := strings.TrimSuffix(file, ".md")
		src, err := fs.ReadFile(runbooks.FS, file)
		if err != nil {
			t.Fatal(err)
		}
		rec := serve(h, http.MethodGet, prefix+name, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", name, rec.Code)
			continue
		}
		body := rec.Body.String()
		m := titleRE.FindStringSubmatch(body)
		heading, _, _ := strings.Cut(string(src), "\n")
		if m == nil || m[1] == "" || "# "+m[1] != heading {
			t.Errorf("%s: title %q does not match the first line %q", name, m, heading)
		}
		if strings.Contains(body, "raw HTML omitted") {
			t.Errorf("%s: uses raw HTML, which is not rendered (write <placeholders> inside `code`)", name)
		}
		if !strings.Contains(body, `<h2 id="symptoms">Symptoms</h2>`) {
			t.Errorf("%s: no Symptoms section with its id", name)
		}
	}
	index := serve(h, http.MethodGet, prefix, nil).Body.String()
	if got := len(indexEntry.FindAllString(index, -1)); got != len(files) {
		t.Errorf("index lists %d runbooks, want %d", got, len(files))
	}
}
