// Package grafana defines Klaxon's Grafana dashboards in Go, with the
// Grafana Foundation SDK: the service overview of the Key Metrics, the
// hosts and klaxon-receiver. cmd/gendashboards writes them as the JSON
// files under dashboards/ that Grafana imports or provisions; `make
// dashboards` runs it. The panels query the series that rules/ records
// wherever one exists, so that they work with either source layer.
package grafana

//lint:file-ignore SA1019 Grafana imports and provisions dashboards of the classic JSON model (package dashboard); the SDK deprecates it for dashboardv2, which only Grafana 12 with its new dashboard API reads.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// File is one dashboard as committed: its file name and JSON.
type File struct {
	Name string
	JSON []byte
}

// builders are the dashboards, by the name of their file.
var builders = []struct {
	name  string
	build func() *dashboard.DashboardBuilder
}{
	{"klaxon-overview.json", overview},
	{"klaxon-hosts.json", hosts},
	{"klaxon-receiver.json", receiver},
}

// Files builds every dashboard and returns its JSON.
func Files() ([]File, error) {
	files := make([]File, 0, len(builders))
	for _, b := range builders {
		d, err := b.build().Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		numberPanels(&d)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		files = append(files, File{Name: b.name, JSON: buf.Bytes()})
	}
	return files, nil
}

// Write writes every dashboard into dir.
func Write(dir string) error {
	files, err := Files()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.JSON, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// numberPanels gives the rows and panels ids 1, 2, … in their order, so
// that links to a panel (viewPanel=N) stay the same from one generation
// to the next.
func numberPanels(d *dashboard.Dashboard) {
	var id uint32
	next := func() *uint32 { id++; n := id; return &n }
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			p.Panel.Id = next()
		case p.RowPanel != nil:
			p.RowPanel.Id = *next()
			for i := range p.RowPanel.Panels {
				p.RowPanel.Panels[i].Id = next()
			}
		}
	}
}
