package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
)

// Accepted is a notification the receiver answered 200 for, as the proxy
// in front of it saw it.
type Accepted struct {
	Route    string
	Incident string
	// Group is the alert group's labels, as the chat templates print them.
	Group string
	Rank  int
	// Start is when the post reached the proxy: a delivery may leave
	// before the answer does.
	Start time.Time
	// Repeat marks a post the receiver took as a repeat of the state it
	// had (duplicate in its answer): it adds no delivery.
	Repeat bool
}

// Webhooks sums up the posts a proxy in front of the receiver saw.
type Webhooks struct {
	Accepted []Accepted
	// Posts counts every post; Refused those answered 5xx or not at all
	// (the receiver down, or its store in trouble).
	Posts, Refused int
}

// ReadWebhooks reads the webhook posts among a proxy's exchanges.
func ReadWebhooks(exchanges []Exchange) (Webhooks, error) {
	var w Webhooks
	for _, ex := range exchanges {
		route, ok := strings.CutPrefix(ex.Path, "/webhook/")
		if !ok || ex.Method != http.MethodPost {
			continue
		}
		w.Posts++
		if ex.Status >= 500 || ex.Status == 0 {
			w.Refused++
		}
		if ex.Status != http.StatusOK {
			continue
		}
		a, err := accepted(route, ex)
		if err != nil {
			return w, fmt.Errorf("post to %s at %s: %w", ex.Path, ex.Start.Format(time.StampMilli), err)
		}
		w.Accepted = append(w.Accepted, a)
	}
	return w, nil
}

func accepted(route string, ex Exchange) (Accepted, error) {
	m, err := alert.Decode(strings.NewReader(string(ex.Body)))
	if err != nil {
		return Accepted{}, err
	}
	var answer struct {
		Incident  string `json:"incident"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(ex.Answer, &answer); err != nil {
		return Accepted{}, fmt.Errorf("the receiver's answer: %w", err)
	}
	return Accepted{
		Route:    route,
		Incident: alert.IncidentKey(route, m.GroupKey),
		Group:    GroupSignature(m.GroupLabels),
		Rank:     Rank(m.Status, len(m.Firing())),
		Start:    ex.Start,
		Repeat:   answer.Duplicate,
	}, nil
}

// GroupSignature is a group's labels as the chat templates print them:
// name=value; in the order of the names.
func GroupSignature(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%s=%s;", k, labels[k])
	}
	return b.String()
}

// Outcome is what reached the upstreams of what the receiver accepted.
// An accepted state counts as delivered to a channel by the first message
// after it that states it or a later state of the same incident: a
// channel may coalesce states that wait for its rate limit. The states of
// an incident must rise (more alerts firing, then resolved), as they do
// in every scenario.
type Outcome struct {
	// Accepted counts the notifications the receiver took, repeats left
	// out; Expected the deliveries they make, one per channel of their
	// route.
	Accepted, Expected int
	// Delivered counts the states the upstreams accepted for accepted
	// incidents: a message's, or each line's of a digest.
	Delivered int
	// Exact counts expected deliveries whose state arrived as such;
	// Coalesced those that arrived only as a later state; Lost those
	// that never arrived.
	Exact, Coalesced, Lost int
	// Stale counts channels of an incident whose last message is not the
	// incident's latest accepted state.
	Stale int
	// Duplicates counts, by kind, messages that repeat a state the
	// channel had already got for the incident; Firsts holds when the
	// first copy of each was sent.
	Duplicates map[string]int
	Firsts     []time.Time
	// Twice holds each duplicate with the first copy it repeats.
	Twice []Twice
	// OutOfOrder counts messages stating an earlier state than one the
	// channel had already got for the incident.
	OutOfOrder int
	// Strays counts messages for no accepted incident.
	Strays int
	// Delays run from an accepted post to the message that delivered it,
	// one per expected delivery that arrived; Worst is the longest, by
	// kind.
	Delays []time.Duration
	Worst  map[string]time.Duration
}

// Twice is a message that repeats a state a channel had already got, and
// the first message with it.
type Twice struct {
	First, Again Message
}

// Reconcile matches the accepted notifications of the delivering routes
// with the messages the upstreams got.
func Reconcile(accepted []Accepted, msgs []Message, routes []string) Outcome {
	out := Outcome{Duplicates: map[string]int{}, Worst: map[string]time.Duration{}}
	byIncident := map[string][]Accepted{}
	// A repeat adds no delivery, but its incident is known: after a
	// crash, its first notification may have been committed and
	// delivered without the answer reaching Alertmanager, which then
	// posted it again.
	known := map[string]bool{}
	incidentOf := map[string]string{} // route and group → incident
	for _, a := range accepted {
		if !slices.Contains(routes, a.Route) {
			continue
		}
		known[a.Incident] = true
		incidentOf[a.Route+"\x00"+a.Group] = a.Incident
		if a.Repeat {
			continue
		}
		out.Accepted++
		byIncident[a.Incident] = append(byIncident[a.Incident], a)
	}
	out.Expected = out.Accepted * len(Kinds)
	type lane struct{ incident, kind string }
	got := map[lane][]Message{}
	for _, m := range msgs {
		incident := m.Incident
		if incident == "" {
			incident = incidentOf[m.Route+"\x00"+m.Group]
		}
		if !known[incident] {
			out.Strays++
			continue
		}
		out.Delivered++
		got[lane{incident, m.Kind}] = append(got[lane{incident, m.Kind}], m)
	}
	for incident, acc := range byIncident {
		slices.SortStableFunc(acc, func(a, b Accepted) int { return a.Start.Compare(b.Start) })
		for _, kind := range Kinds {
			ms := got[lane{incident, kind}]
			slices.SortStableFunc(ms, func(a, b Message) int { return a.At.Compare(b.At) })
			out.add(kind, acc, ms)
		}
	}
	return out
}

// add reconciles one channel of one incident.
func (o *Outcome) add(kind string, acc []Accepted, ms []Message) {
	first := map[int]Message{}
	highest := -1
	for _, m := range ms {
		f, seen := first[m.Rank]
		switch {
		case m.Rank < highest:
			o.OutOfOrder++
		case seen:
			o.Duplicates[kind]++
			o.Firsts = append(o.Firsts, f.Sent)
			o.Twice = append(o.Twice, Twice{First: f, Again: m})
		}
		if !seen {
			first[m.Rank] = m
		}
		highest = max(highest, m.Rank)
	}
	for _, a := range acc {
		i := slices.IndexFunc(ms, func(m Message) bool { return !m.At.Before(a.Start) && m.Rank >= a.Rank })
		switch {
		case i < 0:
			o.Lost++
			continue
		case ms[i].Rank == a.Rank:
			o.Exact++
		default:
			o.Coalesced++
		}
		d := ms[i].At.Sub(a.Start)
		o.Delays = append(o.Delays, d)
		o.Worst[kind] = max(o.Worst[kind], d)
	}
	if latest := acc[len(acc)-1]; len(ms) == 0 || ms[len(ms)-1].Rank != latest.Rank {
		o.Stale++
	}
}

// WorstDelay is the longest delay of a delivery; 0 without any.
func (o Outcome) WorstDelay() time.Duration {
	if len(o.Delays) == 0 {
		return 0
	}
	return slices.Max(o.Delays)
}

// Delay is the p-th percentile of the delivery delays.
func (o Outcome) Delay(p float64) time.Duration { return testkit.Percentile(o.Delays, p) }

// Problems lists what breaks the promise that every accepted notification
// is delivered in order: lost states, stale channels, messages out of
// order or for no incident. Duplicates are the caller's to judge.
func (o Outcome) Problems() []string {
	var p []string
	add := func(n int, what string) {
		if n > 0 {
			p = append(p, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(o.Lost, "accepted states never reached their channel")
	add(o.Stale, "channels of an incident did not end on its latest state")
	add(o.OutOfOrder, "messages arrived out of order")
	add(o.Strays, "messages were for no accepted incident")
	if o.Accepted == 0 {
		p = append(p, "the receiver accepted nothing")
	}
	return p
}
