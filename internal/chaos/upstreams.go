package chaos

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// The upstreams, by the names the figures use.
const (
	PagerDuty = "pagerduty"
	Opsgenie  = "opsgenie"
	Slack     = "slack"
	Discord   = "discord"
)

// Kinds are the four upstreams in the order the figures list them.
var Kinds = []string{PagerDuty, Opsgenie, Slack, Discord}

// opsgenieKey is the API key of every Opsgenie channel.
const opsgenieKey = "chaos-opsgenie-key"

// Upstreams are the fakes of PagerDuty, Opsgenie, Slack and Discord, each
// behind a Proxy that records what the receiver sent it and can stage an
// outage. Each route of the receiver's config gets a channel of each kind
// with a key or webhook of its own, so that each has its own rate limit.
type Upstreams struct {
	PagerDuty *pagerdutytest.Server
	Opsgenie  *opsgenietest.Server
	Slack     *slacktest.Server
	Discord   *discordtest.Server
	// Proxies stand in front of the fakes, by kind.
	Proxies map[string]*Proxy

	routes []string
	keys   map[string]channelKeys // by route
	// owners maps what identifies a channel in a request (routing key,
	// Slack token, Discord webhook ID) to its route.
	owners map[string]string

	mu       sync.Mutex
	injected map[string]int
}

// NewUpstreams starts the four fakes with their documented limits, their
// proxies, and channels for routes. Close them when done.
func NewUpstreams(routes ...string) (*Upstreams, error) {
	u := &Upstreams{
		PagerDuty: pagerdutytest.NewServer(),
		Opsgenie:  opsgenietest.NewServer(opsgenieKey),
		Slack:     slacktest.NewServer(),
		Discord:   discordtest.NewServer(),
		Proxies:   map[string]*Proxy{},
		routes:    routes,
		keys:      map[string]channelKeys{},
		owners:    map[string]string{},
		injected:  map[string]int{},
	}
	targets := map[string]string{PagerDuty: u.PagerDuty.URL(), Opsgenie: u.Opsgenie.URL(), Slack: u.Slack.URL(), Discord: u.Discord.URL()}
	for _, kind := range Kinds {
		p, err := NewProxy(targets[kind])
		if err != nil {
			u.Close()
			return nil, err
		}
		u.Proxies[kind] = p
	}
	for i, route := range routes {
		key := randomHex(16)
		slackPath := requestURI(u.Slack.NewWebhook())
		hookID := strconv.Itoa(100000000000000000 + i)
		discordPath := requestURI(u.Discord.AddWebhook(hookID, "chaos-"+randomHex(8)))
		u.owners[key], u.owners[hookID] = route, route
		u.owners[strings.TrimPrefix(slackPath, "/services/")] = route
		u.keys[route] = channelKeys{routingKey: key, slackPath: slackPath, discordPath: discordPath}
	}
	return u, nil
}

// channelKeys are what identifies a route's channels at the fakes.
type channelKeys struct {
	routingKey, slackPath, discordPath string
}

// requestURI is the path and query of a fake's own URL.
func requestURI(raw string) string {
	parsed, err := url.Parse(raw)
	if err != nil {
		panic("chaos: a fake's own URL does not parse: " + err.Error())
	}
	return parsed.RequestURI()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The templates that put each message's incident and state where the
// ledger reads them back: PagerDuty's summary and Opsgenie's message carry
// the state next to the incident key the upstream gets anyway; Slack's
// title and Discord's embed titles name the alert group, whose count of
// firing alerts Discord's content line states.
const (
	stateTemplate   = `chaos {{ .Status }} {{ len .Alerts.Firing }}`
	groupTemplate   = `{{ range .GroupLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}`
	slackTitle      = stateTemplate + ` ` + groupTemplate
	discordTitle    = `chaos ` + groupTemplate
	channelTemplate = `  - name: pagerduty-%[1]s
    pagerduty:
      routing_key: %[2]s
      url: %[3]s
      summary: '%[7]s'
  - name: opsgenie-%[1]s
    opsgenie:
      api_key: %[8]s
      api_url: %[4]s
      message: '%[7]s'
  - name: slack-%[1]s
    slack:
      webhook_url: %[5]s
      title: '%[9]s'
  - name: discord-%[1]s
    discord:
      webhook_url: %[6]s
      title: '%[10]s'
`
)

func channelConfig(route, routingKey, pd, og, slackURL, discordURL string) string {
	return fmt.Sprintf(channelTemplate, route, routingKey, pd, og, slackURL, discordURL, stateTemplate, opsgenieKey, slackTitle, discordTitle)
}

// Config is the receiver's config: its store at dbPath, external URL, the
// upstreams' routes each delivering to its four channels, and the
// channel-less routes quiet (taken and stored, sent nowhere).
func (u *Upstreams) Config(dbPath, externalURL string, quiet ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  external_url: %s\nstorage:\n  path: %s\nchannels:\n", externalURL, dbPath)
	b.WriteString(u.ChannelsYAML(u.ProxyURLs()))
	if len(u.routes) == 0 {
		b.WriteString("  []\n")
	}
	b.WriteString("routes:\n")
	b.WriteString(u.RoutesYAML(quiet...))
	return b.String()
}

// ProxyURLs are the base URLs of the fakes' proxies, by kind.
func (u *Upstreams) ProxyURLs() map[string]string {
	out := map[string]string{}
	for kind, p := range u.Proxies {
		out[kind] = p.URL
	}
	return out
}

// ChannelsYAML are the items of a config's channels list: the four
// channels of each route, each upstream reached at its base URL in via
// (ProxyURLs, or proxies in front of them).
func (u *Upstreams) ChannelsYAML(via map[string]string) string {
	var b strings.Builder
	for _, r := range u.routes {
		k := u.keys[r]
		b.WriteString(channelConfig(r, k.routingKey, via[PagerDuty]+"/v2/enqueue", via[Opsgenie], via[Slack]+k.slackPath, via[Discord]+k.discordPath))
	}
	return b.String()
}

// RoutesYAML are the items of a config's routes list: each route
// delivering to its four channels, and the channel-less routes quiet.
func (u *Upstreams) RoutesYAML(quiet ...string) string {
	var b strings.Builder
	for _, r := range u.routes {
		fmt.Fprintf(&b, "  - name: %[1]s\n    channels: [pagerduty-%[1]s, opsgenie-%[1]s, slack-%[1]s, discord-%[1]s]\n", r)
	}
	for _, r := range quiet {
		fmt.Fprintf(&b, "  - name: %s\n", r)
	}
	return b.String()
}

// Routes are the routes that deliver to the upstreams.
func (u *Upstreams) Routes() []string { return u.routes }

// Inject429 makes the next request to the upstream kind get a 429 with a
// Retry-After of after, from the fake itself. The figures do not count
// these as rate limits the receiver exceeded.
func (u *Upstreams) Inject429(kind string, after time.Duration) {
	u.mu.Lock()
	u.injected[kind]++
	u.mu.Unlock()
	switch kind {
	case PagerDuty:
		u.PagerDuty.FailNext(1, fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: after})
	case Opsgenie:
		u.Opsgenie.FailNext(1, fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: after})
	case Slack:
		u.Slack.FailNext(1, fakeapi.Fault{Status: http.StatusTooManyRequests, Body: `{"ok":false,"error":"rate_limited"}`, RetryAfter: after})
	case Discord:
		u.Discord.FailNext(1, fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: after})
	}
}

// RateLimited counts, by kind, the 429s the fakes answered for their own
// rate limits: requests the receiver should not have sent yet.
func (u *Upstreams) RateLimited() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for _, kind := range Kinds {
		n := 0
		for _, ex := range u.Proxies[kind].Exchanges() {
			if ex.Status == http.StatusTooManyRequests && !ex.Staged {
				n++
			}
		}
		out[kind] = max(n-u.injected[kind], 0)
	}
	return out
}

// Requests counts the requests the upstreams accepted (2xx).
func (u *Upstreams) Requests() int {
	n := 0
	for _, p := range u.Proxies {
		for _, ex := range p.Exchanges() {
			if ex.Status >= 200 && ex.Status <= 299 {
				n++
			}
		}
	}
	return n
}

// Close stops the proxies and the fakes.
func (u *Upstreams) Close() {
	for _, p := range u.Proxies {
		p.Close()
	}
	u.PagerDuty.Close()
	u.Opsgenie.Close()
	u.Slack.Close()
	u.Discord.Close()
}

// Message is a message an upstream accepted, reduced to what the ledger
// checks: whose it is and what state it tells.
type Message struct {
	Kind  string
	Route string
	// Incident is the incident key, for PagerDuty and Opsgenie; Group the
	// alert group's labels, for Slack and Discord, which get no key.
	Incident, Group string
	// Rank orders the states of an incident: the number of firing
	// alerts, or Resolved.
	Rank int
	// Sent is when the request reached the proxy, At when the upstream's
	// answer left it.
	Sent, At time.Time
	// From is who sent it, when a proxy in front of the upstream's
	// named its sender (Proxy.From): a replica.
	From string
}

// Resolved is the rank of a resolved group: after every firing state.
const Resolved = 1 << 30

// Rank is the rank of a group's state.
func Rank(status string, firing int) int {
	if status == "resolved" {
		return Resolved
	}
	return firing
}

// Messages returns every message the upstreams accepted (2xx), oldest
// first per kind; a Slack or Discord digest gives one for each of its
// lines. A request it cannot read back is an error: the ledger would miss
// it.
func (u *Upstreams) Messages() ([]Message, error) {
	var out []Message
	for _, kind := range Kinds {
		for _, ex := range u.Proxies[kind].Exchanges() {
			if ex.Status < 200 || ex.Status > 299 {
				continue
			}
			ms, err := u.parse(kind, ex)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", kind, ex.Path, err)
			}
			for _, m := range ms {
				m.Kind, m.Sent, m.At, m.From = kind, ex.Start, ex.End, ex.From
				out = append(out, m)
			}
		}
	}
	return out, nil
}

var (
	stateRE        = regexp.MustCompile(`^chaos (firing|resolved) (\d+)`)
	slackTitleRE   = regexp.MustCompile(`^chaos (firing|resolved) (\d+) (\S*)$`)
	discordTitleRE = regexp.MustCompile(`^chaos (\S*)$`)
	// discordCountRE reads the counts off Discord's content line.
	discordCountRE = regexp.MustCompile(`\*\*(Firing|Resolved):\*\* (\d+) alerts?`)
	// digestLineRE reads a digest line of Slack (*[...]*) or Discord
	// (**[...]**): the status, then the alert name and tags up to the
	// summary.
	digestLineRE  = regexp.MustCompile(`^\*{1,2}\[(FIRING:(\d+)|RESOLVED)\]\*{1,2} ([^:]*)`)
	slackPathRE   = regexp.MustCompile(`^/services/(.+)$`)
	discordPathRE = regexp.MustCompile(`^/api/webhooks/([^/]+)/`)
	closePathRE   = regexp.MustCompile(`^/v2/alerts/([^/?]+)/close`)
)

func (u *Upstreams) parse(kind string, ex Exchange) ([]Message, error) {
	var m Message
	var err error
	switch kind {
	case PagerDuty:
		m, err = u.parsePagerDuty(ex.Body)
	case Opsgenie:
		m, err = parseOpsgenie(ex)
	case Slack:
		return u.parseSlack(ex)
	default:
		return u.parseDiscord(ex)
	}
	return []Message{m}, err
}

func (u *Upstreams) parsePagerDuty(body []byte) (Message, error) {
	var ev pagerdutytest.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Message{}, err
	}
	m := Message{Route: u.owners[ev.RoutingKey], Incident: ev.DedupKey, Rank: Resolved}
	if ev.EventAction == "resolve" {
		return m, nil
	}
	if ev.Payload == nil {
		return m, fmt.Errorf("%s event without a payload", ev.EventAction)
	}
	rank, err := stateRank(ev.Payload.Summary)
	m.Rank = rank
	return m, err
}

func parseOpsgenie(ex Exchange) (Message, error) {
	if c := closePathRE.FindStringSubmatch(ex.Path); c != nil {
		alias, err := url.PathUnescape(c[1])
		return Message{Incident: alias, Rank: Resolved}, err
	}
	var a opsgenietest.Alert
	if err := json.Unmarshal(ex.Body, &a); err != nil {
		return Message{}, err
	}
	rank, err := stateRank(a.Message)
	return Message{Incident: a.Alias, Rank: rank}, err
}

func (u *Upstreams) parseSlack(ex Exchange) ([]Message, error) {
	var msg slacktest.Message
	if err := json.Unmarshal(ex.Body, &msg); err != nil {
		return nil, err
	}
	if len(msg.Attachments) == 0 {
		return nil, fmt.Errorf("no attachment")
	}
	route := ""
	if p := slackPathRE.FindStringSubmatch(ex.Path); p != nil {
		route = u.owners[p[1]]
	}
	att := msg.Attachments[0]
	if t := slackTitleRE.FindStringSubmatch(att.Title); t != nil {
		n, _ := strconv.Atoi(t[2])
		return []Message{{Route: route, Group: t[3], Rank: Rank(t[1], n)}}, nil
	}
	return digestMessages(route, att.Text, att.Title)
}

func (u *Upstreams) parseDiscord(ex Exchange) ([]Message, error) {
	var msg discordtest.Message
	if err := json.Unmarshal(ex.Body, &msg); err != nil {
		return nil, err
	}
	if len(msg.Embeds) == 0 {
		return nil, fmt.Errorf("no embed")
	}
	route := ""
	if p := discordPathRE.FindStringSubmatch(ex.Path); p != nil {
		route = u.owners[p[1]]
	}
	if t := discordTitleRE.FindStringSubmatch(msg.Embeds[0].Title); t != nil {
		c := discordCountRE.FindStringSubmatch(msg.Content)
		if c == nil {
			return nil, fmt.Errorf("content %q has no count of alerts", msg.Content)
		}
		n, _ := strconv.Atoi(c[2])
		return []Message{{Route: route, Group: t[1], Rank: Rank(strings.ToLower(c[1]), n)}}, nil
	}
	var lines []string
	for _, e := range msg.Embeds {
		lines = append(lines, e.Description)
	}
	return digestMessages(route, strings.Join(lines, "\n"), msg.Embeds[0].Title)
}

// digestMessages reads the lines of a digest: each states one
// notification's group (alert name and group labels) and status.
func digestMessages(route, text, title string) ([]Message, error) {
	var out []Message
	for line := range strings.Lines(text) {
		d := digestLineRE.FindStringSubmatch(strings.TrimSpace(line))
		if d == nil {
			return nil, fmt.Errorf("digest %q: line %q is neither the chaos template's nor a digest's", title, line)
		}
		status, n := "resolved", 0
		if d[2] != "" {
			status, n = "firing", atoi(d[2])
		}
		parts := strings.Split(strings.ReplaceAll(d[3], "\\", ""), " · ")
		labels := map[string]string{"alertname": strings.TrimSpace(parts[0])}
		for _, tag := range parts[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(tag), "="); ok {
				labels[k] = v
			}
		}
		out = append(out, Message{Route: route, Group: GroupSignature(labels), Rank: Rank(status, n)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("digest %q has no lines", title)
	}
	return out, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func stateRank(s string) (int, error) {
	m := stateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not the chaos template's state", s)
	}
	return Rank(m[1], atoi(m[2])), nil
}
