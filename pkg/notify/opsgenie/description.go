package opsgenie

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// defaultDescription lists the group's alerts, firing first, with their
// labels, annotations, runbook and graph links. Alerts that do not fit in
// Opsgenie's limit are counted in an "and N more" line.
func defaultDescription(m *alert.Message, subject string) string {
	header := descriptionHeader(m, subject)
	footer := descriptionFooter(m)
	alerts := append(m.Firing(), m.Resolved()...)
	used := utf8.RuneCountInString(header) + utf8.RuneCountInString(footer) + utf8.RuneCountInString(moreLine(len(alerts)))
	var b strings.Builder
	b.WriteString(header)
	for i, a := range alerts {
		block := alertBlock(a, m.CommonLabels)
		size := utf8.RuneCountInString(block)
		if used+size > maxDescription {
			b.WriteString(moreLine(len(alerts) - i))
			break
		}
		b.WriteString(block)
		used += size
	}
	b.WriteString(footer)
	return b.String()
}

func descriptionHeader(m *alert.Message, subject string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%d firing, %d resolved.\n", subject, len(m.Firing()), len(m.Resolved()))
	if len(m.CommonLabels) > 0 {
		fmt.Fprintf(&b, "Labels: %s\n", labelList(m.CommonLabels, nil))
	}
	return b.String()
}

func descriptionFooter(m *alert.Message) string {
	var b strings.Builder
	if m.TruncatedAlerts > 0 {
		fmt.Fprintf(&b, "\nAlertmanager left %d more alerts of this group out of the notification (max_alerts).\n", m.TruncatedAlerts)
	}
	if m.ExternalURL != "" {
		fmt.Fprintf(&b, "\nAlertmanager: %s\n", m.ExternalURL)
	}
	return b.String()
}

func moreLine(n int) string {
	return fmt.Sprintf("\n…and %d more alerts, cut to fit Opsgenie's description limit.\n", n)
}

// alertBlock describes one alert; labels common to the group are left to
// the header.
func alertBlock(a alert.Alert, common map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[%s] %s\n", strings.ToUpper(a.Status), a.Labels["alertname"])
	if labels := labelList(a.Labels, common); labels != "" {
		fmt.Fprintf(&b, "Labels: %s\n", labels)
	}
	for _, name := range sortedKeys(a.Annotations) {
		if name != "runbook_url" {
			fmt.Fprintf(&b, "%s: %s\n", name, clip(a.Annotations[name]))
		}
	}
	if u := a.Annotations["runbook_url"]; u != "" {
		fmt.Fprintf(&b, "Runbook: %s\n", clip(u))
	}
	if a.GeneratorURL != "" {
		fmt.Fprintf(&b, "Graph: %s\n", clip(a.GeneratorURL))
	}
	if !a.StartsAt.IsZero() {
		fmt.Fprintf(&b, "Since: %s\n", a.StartsAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// labelList is "name=value, ..." of the labels not in skip, alertname
// aside.
func labelList(labels, skip map[string]string) string {
	var parts []string
	for _, name := range sortedKeys(labels) {
		if _, ok := skip[name]; ok || name == "alertname" {
			continue
		}
		parts = append(parts, name+"="+clip(labels[name]))
	}
	return strings.Join(parts, ", ")
}

func clip(s string) string {
	out, _ := notify.Truncate(s, maxLabelText)
	return out
}

// alertnames are the group's distinct alertnames, sorted.
func alertnames(m *alert.Message) []string {
	seen := map[string]bool{}
	for _, a := range m.Alerts {
		seen[a.Labels["alertname"]] = true
	}
	delete(seen, "")
	return slices.Sorted(maps.Keys(seen))
}

// runbookURLs are the distinct runbook_url annotations, firing alerts
// first.
func runbookURLs(m *alert.Message) []string {
	var out []string
	for _, a := range append(m.Firing(), m.Resolved()...) {
		if u := a.Annotations["runbook_url"]; u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
