package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders figures as a Markdown table, a row per scenario.
func Markdown(figures []Figures) string {
	var b strings.Builder
	b.WriteString("| scenario | alerts | posts (refused) | accepted | deliveries expected | states delivered (requests) | exact / coalesced / lost | stale | out of order | duplicates PD / OG / Slack / Discord | 429 for a limit | peak RSS | delay p50 / p99 / worst | took |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range figures {
		dup := make([]string, len(Kinds))
		for i, k := range Kinds {
			dup[i] = fmt.Sprint(f.Duplicates[k])
		}
		alerts := "-"
		if f.Alerts > 0 {
			alerts = fmt.Sprint(f.Alerts)
		}
		fmt.Fprintf(&b, "| %s | %s | %d (%d) | %d | %d | %d (%d) | %d / %d / %d | %d | %d | %s | %d | %.1f MiB | %s / %s / %s | %s |\n",
			f.Scenario, alerts, f.Posts, f.Refused, f.Accepted, f.Expected, f.Delivered, f.Requests,
			f.Exact, f.Coalesced, f.Lost, f.Stale, f.OutOfOrder, strings.Join(dup, " / "), f.RateLimitedTotal(),
			float64(f.PeakRSS)/(1<<20), seconds(f.Delay(50)), seconds(f.Delay(99)), seconds(f.WorstDelay()), seconds(f.Took))
	}
	b.WriteString(takeoverTable(figures))
	return b.String()
}

// takeoverTable renders the failover figures of the scenarios with
// replicas as a second table; "" when none has any.
func takeoverTable(figures []Figures) string {
	var b strings.Builder
	for _, f := range figures {
		for _, tk := range f.Takeovers {
			if b.Len() == 0 {
				b.WriteString("\n| scenario | fault | leases held | taken over | first takeover | last takeover |\n")
				b.WriteString("|---|---|---:|---:|---:|---:|\n")
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s |\n", f.Scenario, tk.Fault, tk.Leased, tk.Count, seconds(tk.First), seconds(tk.Last))
		}
	}
	return b.String()
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}
