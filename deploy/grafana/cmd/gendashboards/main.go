// Command gendashboards writes Klaxon's Grafana dashboards, defined in
// package grafana, as JSON files: `make dashboards` runs it to refresh
// deploy/grafana/dashboards/.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/klaxonhq/klaxon/deploy/grafana"
)

func main() {
	app := kingpin.New("gendashboards", "Writes Klaxon's Grafana dashboards as JSON files.")
	out := app.Flag("out", "Directory to write the dashboards into.").Default("deploy/grafana/dashboards").ExistingDir()
	kingpin.MustParse(app.Parse(os.Args[1:]))
	if err := grafana.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
}
