package receiver

import (
	"time"

	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/prometheus/client_golang/prometheus"
)

// Descriptions of the on-call metrics.
var (
	onCallCurrentDesc = prometheus.NewDesc("klaxon_oncall_current_info",
		"Who is on call now, per schedule: 1 with the user's name; user is empty when nobody is.",
		[]string{"schedule", "user"}, nil)
	onCallNextHandoffDesc = prometheus.NewDesc("klaxon_oncall_next_handoff_seconds",
		"Seconds until who is on call for the schedule next changes; absent when it never does.",
		[]string{"schedule"}, nil)
	onCallGapSecondsDesc = prometheus.NewDesc("klaxon_oncall_gap_seconds",
		"Seconds with nobody on call for the schedule in the next 7 days, counting from now.",
		[]string{"schedule"}, nil)
	onCallGapsDesc = prometheus.NewDesc("klaxon_oncall_gaps",
		"Number of intervals with nobody on call for the schedule in the next 7 days, counting from now.",
		[]string{"schedule"}, nil)
)

// onCallCollector computes the on-call metrics at scrape time from the
// Runtime in force.
type onCallCollector struct {
	current api.Current
}

// newOnCallCollector returns the collector of the klaxon_oncall_*
// metrics; current is asked for the config in force at every scrape.
func newOnCallCollector(current api.Current) prometheus.Collector {
	return &onCallCollector{current: current}
}

func (c *onCallCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{onCallCurrentDesc, onCallNextHandoffDesc, onCallGapSecondsDesc, onCallGapsDesc} {
		ch <- d
	}
}

func (c *onCallCollector) Collect(ch chan<- prometheus.Metric) {
	rt := c.current.Get()
	now := rt.Now()
	for _, sc := range rt.Config.Schedules {
		s, ok := rt.Roster.Schedules[sc.Name]
		if !ok {
			continue
		}
		user, _ := s.OnCall(now)
		ch <- prometheus.MustNewConstMetric(onCallCurrentDesc, prometheus.GaugeValue, 1, s.Name(), user)
		if next := s.NextHandoffs(now, 1); len(next) > 0 {
			ch <- prometheus.MustNewConstMetric(onCallNextHandoffDesc, prometheus.GaugeValue, next[0].At.Sub(now).Seconds(), s.Name())
		}
		gaps := s.Gaps(now, now.Add(receiverconfig.GapHorizon))
		var total time.Duration
		for _, g := range gaps {
			total += g.Until.Sub(g.From)
		}
		ch <- prometheus.MustNewConstMetric(onCallGapSecondsDesc, prometheus.GaugeValue, total.Seconds(), s.Name())
		ch <- prometheus.MustNewConstMetric(onCallGapsDesc, prometheus.GaugeValue, float64(len(gaps)), s.Name())
	}
}
