package collector

import (
	"errors"
	"sync"
	"time"
)

// Outcome is how a collector's run ended.
type Outcome int

// The outcomes of a run. NoData counts as a success, as in
// klaxon_exporter_collector_success.
const (
	Succeeded Outcome = iota
	NoData
	Failed
)

// Result is one run of a collector or probe during a scrape.
type Result struct {
	Outcome  Outcome
	Err      error // why it failed or had no data; nil on success
	End      time.Time
	Duration time.Duration
}

// Status is what Results knows of one collector.
type Status struct {
	Last        Result
	LastSuccess time.Time // zero if it never succeeded
}

// Results keeps the last result of every collector and probe that ran,
// for the landing page. It is safe for concurrent use.
type Results struct {
	mu       sync.Mutex
	statuses map[string]Status
}

// NewResults returns an empty Results.
func NewResults() *Results {
	return &Results{statuses: map[string]Status{}}
}

// record stores the result of name's latest run.
func (r *Results) record(name string, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.statuses[name]
	s.Last = res
	if res.Outcome != Failed {
		s.LastSuccess = res.End
	}
	r.statuses[name] = s
}

// retain forgets the collectors not in current, such as probes a reload
// removed.
func (r *Results) retain(current map[string]Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.statuses {
		if _, ok := current[name]; !ok {
			delete(r.statuses, name)
		}
	}
}

// Status returns what is known of name, and false if it never ran.
func (r *Results) Status(name string) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.statuses[name]
	return s, ok
}

// outcome classifies the error a collector returned.
func outcome(err error) Outcome {
	switch {
	case err == nil:
		return Succeeded
	case errors.Is(err, ErrNoData):
		return NoData
	default:
		return Failed
	}
}
