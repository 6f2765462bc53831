// Package testkit is the plumbing the tests share: golden files rewritten
// by one -update flag, a fake clock and a percentile of durations. Only
// tests and the harness under internal/ import it.
package testkit
