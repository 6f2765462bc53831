// Package runbooks holds Klaxon's runbooks, one Markdown file per alert in
// rules/alerts.yml, named after the alert's runbook_url annotation: the
// lower-case alert name, as in higherrorrate.md for HighErrorRate.
//
// klaxon-receiver serves them rendered under /runbooks/ and resolves an
// alert's relative runbook_url against its global.runbook_base_url, which
// defaults to those pages; pointing runbook_base_url at a wiki that holds
// copies of these files moves every link at once. rules/rules_test.go keeps
// the set of runbooks and the set of alerts equal and checks each runbook's
// sections.
package runbooks

import "embed"

// FS holds every runbook, as <runbook_url>.md at its root.
//
//go:embed *.md
var FS embed.FS
