package collector

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

var (
	//go:embed landing.html
	landingHTML string
	//go:embed landing.css
	landingCSS string

	landingTemplate = template.Must(template.New("landing").Funcs(template.FuncMap{"table": newTable}).Parse(landingHTML))

	// landingCSP allows no scripts, frames or forms; only the page's own
	// inline stylesheet, by its hash.
	landingCSP = "default-src 'none'; style-src '" + hashCSS(landingCSS) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// probePrefix starts the collector name of every probe, as in
// collector="probe:api".
const probePrefix = "probe:"

// landingTimeLayout is how the landing page shows times, in UTC.
const landingTimeLayout = "2006-01-02 15:04:05 MST"

// LandingOpts configures a LandingPage.
type LandingOpts struct {
	Name, Description, Version string
	// MetricsPath and DocsURL are linked from the page.
	MetricsPath, DocsURL string
}

// LandingPage serves the exporter's home page: links to the metrics, the
// health check and the docs, and for every host collector and probe that
// the next scrape runs, how its last run went.
type LandingPage struct {
	opts    LandingOpts
	results *Results
	sources []func() map[string]Collector
	logger  *slog.Logger
	now     func() time.Time
}

// NewLandingPage returns the page of the collectors that sources return,
// with their last results from results.
func NewLandingPage(logger *slog.Logger, opts LandingOpts, results *Results, sources ...func() map[string]Collector) *LandingPage {
	return &LandingPage{opts: opts, results: results, sources: sources, logger: logger, now: time.Now}
}

// landingView is what the template renders.
type landingView struct {
	Name, Description, Version, Now string
	CSS                             template.CSS
	Links                           []link
	Host, Probes                    []row
}

type link struct{ Address, Text string }

// row is one collector or probe.
type row struct {
	Name, Outcome, Class  string
	Finished, LastSuccess *moment
	Duration, Reason      string
}

// moment is a time as the page shows it.
type moment struct{ Text, ISO, Age string }

// table is one table of rows.
type table struct {
	Title, Column string
	Rows          []row
}

func newTable(title, column string, rows []row) table {
	return table{Title: title, Column: column, Rows: rows}
}

func (p *LandingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	var buf bytes.Buffer
	if err := landingTemplate.Execute(&buf, p.view()); err != nil {
		p.logger.Error("rendering the landing page", "err", err)
		http.Error(w, "internal error: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", landingCSP)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

func (p *LandingPage) view() landingView {
	now := p.now()
	v := landingView{
		Name: p.opts.Name, Description: p.opts.Description, Version: p.opts.Version,
		Now: now.UTC().Format(landingTimeLayout), CSS: template.CSS(landingCSS),
		Links: []link{{p.opts.MetricsPath, "Metrics"}, {"/-/healthy", "Health"}},
	}
	if p.opts.DocsURL != "" {
		v.Links = append(v.Links, link{p.opts.DocsURL, "Documentation"})
	}
	collectors := collect(p.sources)
	for _, name := range slices.Sorted(maps.Keys(collectors)) {
		s, ran := p.results.Status(name)
		if probe, ok := strings.CutPrefix(name, probePrefix); ok {
			v.Probes = append(v.Probes, newRow(probe, s, ran, now))
		} else {
			v.Host = append(v.Host, newRow(name, s, ran, now))
		}
	}
	return v
}

func newRow(name string, s Status, ran bool, now time.Time) row {
	if !ran {
		return row{Name: name, Outcome: "not scraped yet", Class: "none"}
	}
	r := row{
		Name:     name,
		Finished: newMoment(s.Last.End, now),
		Duration: formatTook(s.Last.Duration),
	}
	if !s.LastSuccess.IsZero() {
		r.LastSuccess = newMoment(s.LastSuccess, now)
	}
	switch s.Last.Outcome {
	case Succeeded:
		r.Outcome, r.Class = "ok", "ok"
	case NoData:
		r.Outcome, r.Class = "ok, no data", "ok"
	case Failed:
		r.Outcome, r.Class = "failed", "failed"
	}
	if s.Last.Err != nil {
		r.Reason = s.Last.Err.Error()
	}
	return r
}

func newMoment(t, now time.Time) *moment {
	return &moment{
		Text: t.UTC().Format(landingTimeLayout),
		ISO:  t.UTC().Format(time.RFC3339),
		Age:  now.Sub(t).Round(time.Second).String(),
	}
}

func hashCSS(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// formatTook words how long a collection took: milliseconds below a
// second, where most collectors finish, seconds above.
func formatTook(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
