package runbook

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestResolve(t *testing.T) {
	const (
		wiki        = "https://wiki.example.com/ops/runbooks/"
		wikiNoSlash = "https://wiki.example.com/ops/runbooks"
		receiver    = "http://klaxon.example.com:9848/runbooks/"
		hostOnly    = "https://wiki.example.com"
		queryBase   = "https://wiki.example.com/index.php?title=Runbooks/"
	)
	tests := []struct {
		name, base, raw, want string
	}{
		{"relative name", wiki, "higherrorrate", wiki + "higherrorrate"},
		{"relative name, receiver pages", receiver, "higherrorrate", receiver + "higherrorrate"},
		{"base without trailing slash", wikiNoSlash, "higherrorrate", wikiNoSlash + "/higherrorrate"},
		{"base with host only", hostOnly, "higherrorrate", hostOnly + "/higherrorrate"},
		{"base with a query", queryBase, "higherrorrate", queryBase + "higherrorrate"},
		{"relative with fragment", wiki, "higherrorrate#investigation", wiki + "higherrorrate#investigation"},
		{"relative with sub-path", wiki, "db/postgres", wiki + "db/postgres"},
		{"relative with leading slash stays under base", wiki, "/higherrorrate", wiki + "higherrorrate"},
		{"relative with spaces trimmed", wiki, "  higherrorrate\n", wiki + "higherrorrate"},
		{"relative with a space escaped", wiki, "high error rate", wiki + "high%20error%20rate"},
		{"relative with a colon", wiki, "./a:b", wiki + "./a:b"},
		{"absolute https unchanged", wiki, "https://runbooks.example.org/x?y=1#z", "https://runbooks.example.org/x?y=1#z"},
		{"absolute http unchanged", wiki, "http://runbooks.example.org/x", "http://runbooks.example.org/x"},
		{"absolute upper-case scheme", wiki, "HTTPS://runbooks.example.org/x", "https://runbooks.example.org/x"},
		{"absolute without base", "", "https://runbooks.example.org/x", "https://runbooks.example.org/x"},
		{"relative without base", "", "higherrorrate", ""},
		{"empty", wiki, "", ""},
		{"blank", wiki, "   ", ""},
		{"javascript", wiki, "javascript:alert(1)", ""},
		{"javascript upper-case", wiki, "JavaScript:alert(1)", ""},
		{"javascript with leading space", wiki, " javascript:alert(1)", ""},
		{"javascript with a tab inside", wiki, "java\tscript:alert(1)", ""},
		{"data", wiki, "data:text/html,<script>alert(1)</script>", ""},
		{"vbscript", wiki, "vbscript:msgbox", ""},
		{"mailto", wiki, "mailto:ops@example.com", ""},
		{"file", wiki, "file:///etc/passwd", ""},
		{"ftp", wiki, "ftp://example.com/runbook", ""},
		{"http without host", wiki, "http:higherrorrate", ""},
		{"https with empty host", wiki, "https:///higherrorrate", ""},
		{"scheme-relative", wiki, "//evil.example.com/x", ""},
		{"unparsable", wiki, "%zz", ""},
		{"control character", wiki, "higher\x7frorrate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Resolver
			if tt.base != "" {
				r.Base = mustURL(t, tt.base)
			}
			if got := r.Resolve(tt.raw); got != tt.want {
				t.Errorf("Resolve(%q) with base %q = %q, want %q", tt.raw, tt.base, got, tt.want)
			}
		})
	}
}

func TestResolveMessage(t *testing.T) {
	r := Resolver{Base: mustURL(t, "https://klaxon.example.com/runbooks/")}
	m := &alert.Message{
		CommonAnnotations: map[string]string{"runbook_url": "higherrorrate", "summary": "errors"},
		Alerts: []alert.Alert{
			{Annotations: map[string]string{"runbook_url": "higherrorrate", "summary": "api"}},
			{Annotations: map[string]string{"runbook_url": "https://wiki.example.com/x"}},
			{Annotations: map[string]string{"runbook_url": "javascript:alert(1)", "summary": "bad"}},
			{Annotations: map[string]string{"summary": "no runbook"}},
			{},
		},
	}
	want := &alert.Message{
		CommonAnnotations: map[string]string{"runbook_url": "https://klaxon.example.com/runbooks/higherrorrate", "summary": "errors"},
		Alerts: []alert.Alert{
			{Annotations: map[string]string{"runbook_url": "https://klaxon.example.com/runbooks/higherrorrate", "summary": "api"}},
			{Annotations: map[string]string{"runbook_url": "https://wiki.example.com/x"}},
			{Annotations: map[string]string{"summary": "bad"}},
			{Annotations: map[string]string{"summary": "no runbook"}},
			{},
		},
	}
	r.ResolveMessage(m)
	if diff := cmp.Diff(want, m); diff != "" {
		t.Fatalf("ResolveMessage (-want +got):\n%s", diff)
	}
	// Resolving again changes nothing: absolute links stay as they are.
	r.ResolveMessage(m)
	if diff := cmp.Diff(want, m); diff != "" {
		t.Fatalf("second ResolveMessage (-want +got):\n%s", diff)
	}
}

func TestResolveMessageNilCommonAnnotations(t *testing.T) {
	r := Resolver{Base: mustURL(t, "https://klaxon.example.com/runbooks/")}
	m := &alert.Message{Alerts: []alert.Alert{{Annotations: map[string]string{"runbook_url": "x"}}}}
	r.ResolveMessage(m)
	if m.CommonAnnotations != nil {
		t.Errorf("CommonAnnotations = %v, want nil", m.CommonAnnotations)
	}
	if got, want := m.Alerts[0].Annotations["runbook_url"], "https://klaxon.example.com/runbooks/x"; got != want {
		t.Errorf("runbook_url = %q, want %q", got, want)
	}
}

func TestDefaultBase(t *testing.T) {
	tests := []struct{ external, want string }{
		{"http://127.0.0.1:9848", "http://127.0.0.1:9848/runbooks/"},
		{"http://127.0.0.1:9848/", "http://127.0.0.1:9848/runbooks/"},
		{"https://ops.example.com/klaxon", "https://ops.example.com/klaxon/runbooks/"},
		{"https://ops.example.com/klaxon/?x=1#y", "https://ops.example.com/klaxon/runbooks/"},
	}
	for _, tt := range tests {
		ext := mustURL(t, tt.external)
		if got := DefaultBase(ext).String(); got != tt.want {
			t.Errorf("DefaultBase(%q) = %q, want %q", tt.external, got, tt.want)
		}
		if ext.String() != tt.external {
			t.Errorf("DefaultBase changed its argument to %q", ext)
		}
	}
}

func TestParseBase(t *testing.T) {
	tests := []struct{ in, err string }{
		{"https://wiki.example.com/ops/runbooks/", ""},
		{"http://127.0.0.1:9848/runbooks/", ""},
		{"wiki.example.com/runbooks/", `runbook base URL "wiki.example.com/runbooks/" must be an absolute http or https URL`},
		{"/runbooks/", `runbook base URL "/runbooks/" must be an absolute http or https URL`},
		{"ftp://example.com/runbooks/", `runbook base URL "ftp://example.com/runbooks/" must be an absolute http or https URL`},
		{"javascript:alert(1)", `runbook base URL "javascript:alert(1)" must be an absolute http or https URL`},
		{"https:///runbooks/", `runbook base URL "https:///runbooks/" must be an absolute http or https URL`},
		{":bad", `invalid runbook base URL: parse ":bad": missing protocol scheme`},
	}
	for _, tt := range tests {
		u, err := ParseBase(tt.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("ParseBase(%q) error = %q, want %q", tt.in, got, tt.err)
		}
		if err == nil && u.String() != tt.in {
			t.Errorf("ParseBase(%q) = %q", tt.in, u)
		}
	}
}
