// Command klaxon-receiver turns Alertmanager webhooks into pages and
// messages. This is a placeholder until the receiver is built (issue 4):
// it only answers --version and exits.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

func main() {
	kingpin.Version(version.Print("klaxon-receiver"))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	fmt.Fprintln(os.Stderr, "klaxon-receiver is not implemented yet")
	os.Exit(1)
}
