// Package hostmetrics holds klaxon-exporter's host collectors, built on
// gopsutil v4. Each registers itself with pkg/collector from init().
package hostmetrics
