// Package docs holds Klaxon's documentation. It has no code: its tests
// check the documentation against the code. Every command line that runs
// klaxon-exporter or klaxon-receiver must use commands and flags that the
// built binaries accept, every relative link must point at a file (and
// heading) that exists, and the worked examples of migrating.md run.
package docs
