// Package runbook links alerts to their runbooks and serves the runbooks.
//
// Alerts carry a runbook_url annotation that is either an absolute http(s)
// URL or a name relative to klaxon-receiver's runbook_base_url, such as
// "higherrorrate". A Resolver turns those names into absolute links before
// anything is sent, and NewHandler serves the Markdown runbooks rendered as
// HTML pages, which is where the base points by default.
package runbook

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// Annotation is the annotation that holds an alert's runbook link.
const Annotation = "runbook_url"

// DefaultPath is where klaxon-receiver serves the runbooks, below its
// external URL.
const DefaultPath = "runbooks/"

// DefaultBase is the runbook base for a receiver reachable at externalURL:
// its own runbook pages, <external_url>/runbooks/.
func DefaultBase(externalURL *url.URL) *url.URL {
	base := *externalURL
	base.RawQuery, base.Fragment, base.RawFragment = "", "", ""
	return base.JoinPath(DefaultPath)
}

// ParseBase parses a runbook base URL, which must be an absolute http or
// https URL.
func ParseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid runbook base URL: %w", err)
	}
	if !httpURL(u) {
		return nil, fmt.Errorf("runbook base URL %q must be an absolute http or https URL", s)
	}
	return u, nil
}

// Resolver makes runbook links absolute.
type Resolver struct {
	// Base is what relative links are joined onto; nil leaves them
	// unresolvable.
	Base *url.URL
}

// Resolve returns the link for a runbook_url value, or "" when there is
// nothing safe to link to.
//
// An absolute http or https URL is returned as it is. A relative reference
// (a runbook name such as "higherrorrate", possibly with a path, query or
// fragment) is appended to Base, so that "higherrorrate" becomes
// "<base>higherrorrate"; a "/" is put between them when Base's path does not
// end with one and Base has no query or fragment, so that a base given
// without its trailing slash still names a directory. Anything else gives
// "": other schemes such as "javascript:" or "mailto:", scheme-relative
// "//host" references, values that do not parse, empty values, and
// relative names when Base is nil.
func (r Resolver) Resolve(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	switch {
	case u.Scheme != "":
		if !httpURL(u) {
			return ""
		}
		return u.String()
	case u.Host != "" || u.User != nil:
		return ""
	case r.Base == nil:
		return ""
	}
	return joinBase(r.Base, u)
}

// joinBase appends the relative reference ref to base.
func joinBase(base, ref *url.URL) string {
	b := base.String()
	if base.RawQuery == "" && base.Fragment == "" && !base.ForceQuery && !strings.HasSuffix(b, "/") {
		b += "/"
	}
	rel := *ref
	rel.Path = strings.TrimLeft(rel.Path, "/")
	rel.RawPath = strings.TrimLeft(rel.RawPath, "/")
	return b + rel.String()
}

// ResolveMessage resolves the runbook_url annotation of every alert of m
// and of its common annotations, in place. An annotation that resolves to
// "" is removed, so that templates see no link rather than a broken one.
func (r Resolver) ResolveMessage(m *alert.Message) {
	r.resolveIn(m.CommonAnnotations)
	for i := range m.Alerts {
		r.resolveIn(m.Alerts[i].Annotations)
	}
}

func (r Resolver) resolveIn(annotations map[string]string) {
	raw, ok := annotations[Annotation]
	if !ok {
		return
	}
	if link := r.Resolve(raw); link != "" {
		annotations[Annotation] = link
	} else {
		delete(annotations, Annotation)
	}
}

// httpURL reports whether u is an absolute http or https URL with a host.
func httpURL(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Opaque == ""
}
