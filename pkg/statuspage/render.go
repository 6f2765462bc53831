package statuspage

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/incident"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string

	templates = template.Must(template.New("page").Parse(pageHTML))

	// contentSecurityPolicy allows no scripts, frames or plugins:
	// default-src 'none' covers them. Only the page's own inline
	// stylesheet (by its hash) is allowed, and forms post only here.
	contentSecurityPolicy = "default-src 'none'; style-src '" + cssHash(pageCSS) +
		"'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// refreshSeconds is how often the status page reloads itself.
const refreshSeconds = 30

// timeLayout is how the pages show times, in Options.Location.
const timeLayout = "Mon 2 Jan 15:04 MST"

// page is what every template renders; each page uses some of it.
type page struct {
	Title   string
	CSS     template.CSS
	Base    string
	Refresh int

	// The status page.
	Updated         string
	Incidents       []incidentView
	IncidentsFailed bool
	OnCall          []onCallView
	OnCallFailed    bool

	// The link pages.
	Incident *incidentView
	Expires  string
	Message  string
}

// incidentView is an Incident ready to show.
type incidentView struct {
	// ShortID is the ID's short form, which the commands take.
	ShortID                          string
	ID, Anchor, Title, Route, Status string
	Severity, SeverityClass          string
	Started, StartedISO, Age         string
	Level                            int
	Paged                            []string
	Acked                            bool
	AckedBy, AckedAt                 string
	Alerts                           []incident.Alert
	Form                             *ackForm
}

// ackForm is the status page's acknowledge button of one incident.
type ackForm struct {
	Action, CSRF string
}

type onCallView struct {
	Schedule, User, Until string
	Next                  []handoffView
}

type handoffView struct {
	At, User string
}

func cssHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// render writes page p with template name and status.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSS = template.CSS(pageCSS)
	p.Base = h.base
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, p); err != nil {
		h.logger.Error("rendering page", "page", name, "err", err)
		http.Error(w, "internal error: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// message renders a page that says one thing, about inc if not nil.
func (h *handler) message(w http.ResponseWriter, r *http.Request, status int, title, msg string, inc *incidentView) {
	h.render(w, r, status, "message", page{Title: title, Message: msg, Incident: inc})
}

// view prepares inc for a page at now.
func (h *handler) view(inc incident.Incident, now time.Time) incidentView {
	v := incidentView{
		ShortID:       alert.ShortID(inc.ID),
		ID:            inc.ID,
		Anchor:        anchor(inc.ID),
		Title:         inc.Title,
		Route:         inc.Route,
		Status:        inc.Status,
		Severity:      inc.Severity,
		SeverityClass: severityClass(inc.Severity),
		Started:       h.clock(inc.Started),
		StartedISO:    inc.Started.UTC().Format(time.RFC3339),
		Age:           age(now.Sub(inc.Started)),
		Level:         inc.Level,
		Paged:         inc.Paged,
		Acked:         inc.Status == incident.StatusAcknowledged,
		AckedBy:       inc.AckedBy,
		Alerts:        inc.Alerts,
	}
	if v.Title == "" {
		v.Title = inc.ID
	}
	if v.Severity == "" {
		v.Severity = "none"
	}
	if !inc.AckedAt.IsZero() {
		v.AckedAt = h.clock(inc.AckedAt)
	}
	return v
}

func (h *handler) clock(t time.Time) string {
	return t.In(h.loc).Format(timeLayout)
}

// Severity ranks, most urgent first, for sorting and colour.
var severityRanks = map[string]int{"critical": 0, "error": 1, "warning": 2, "info": 3}

func severityRank(s string) int {
	if r, ok := severityRanks[strings.ToLower(s)]; ok {
		return r
	}
	return len(severityRanks)
}

// severityClass is the CSS class suffix that colours a severity.
func severityClass(s string) string {
	switch severityRank(s) {
	case 0, 1:
		return "critical"
	case 2:
		return "warning"
	case 3:
		return "info"
	}
	return "other"
}

// age is a duration as a person reads it: "45s", "12m", "3h 05m", "2d 4h".
func age(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// anchor is the HTML id of an incident's card: "incident-" and the ID,
// with anything but letters, digits, "-" and "_" made "-".
func anchor(id string) string {
	return "incident-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, id)
}

// incidentPath is the status page's acknowledge action of an incident.
func (h *handler) incidentPath(id string) string {
	return h.base + "incidents/" + url.PathEscape(id) + "/ack"
}
