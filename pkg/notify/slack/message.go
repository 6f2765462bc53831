package slack

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// Slack's limits, and the shares of them one message gives each part.
const (
	// maxText: Slack truncates a message's text past 40,000 characters
	// (api.slack.com changelog "Truncating really long messages").
	maxText = 40000
	// maxTitle: Slack's legacy attachment fields guide keeps a title to
	// 1024 characters, as Alertmanager's Slack notifier does.
	maxTitle = 1024
	// maxAttachmentText keeps the alert list well inside maxText: Slack
	// advised 4,000 characters for readable messages and may collapse
	// longer attachments behind "Show more".
	maxAttachmentText = 8000
	// moreReserve is room kept at the end of the alert list for the
	// "and N more" line.
	moreReserve = 40
)

// Shares of one alert in the list, in runes of the alert's own text,
// before escaping.
const (
	maxSummary     = 200
	maxDescription = 600
	maxLabelValue  = 100
	maxValue       = 100
	maxLabels      = 8
)

// message is the JSON body of an incoming webhook post.
type message struct {
	Channel     string       `json:"channel,omitempty"`
	Username    string       `json:"username,omitempty"`
	IconEmoji   string       `json:"icon_emoji,omitempty"`
	Text        string       `json:"text,omitempty"`
	Attachments []attachment `json:"attachments"`
}

// attachment is Slack's legacy secondary attachment.
type attachment struct {
	Color     string   `json:"color"`
	Fallback  string   `json:"fallback"`
	Title     string   `json:"title"`
	TitleLink string   `json:"title_link,omitempty"`
	Text      string   `json:"text,omitempty"`
	Footer    string   `json:"footer,omitempty"`
	Ts        int64    `json:"ts,omitempty"`
	MrkdwnIn  []string `json:"mrkdwn_in"`
}

// renderer builds one message and notes what it had to shorten.
type renderer struct {
	conf *Config
	cuts []string
}

// build renders n as a Slack message, logging a warning when it had to
// shorten anything to hold Slack's limits.
func (s *Notifier) build(n *notify.Notification) (*message, error) {
	r := &renderer{conf: s.conf}
	if n.Kind.Enveloped() && n.Message != nil {
		text, att, err := r.escalationMessage(s.tmpl, n, s.mentions(n))
		if err != nil {
			return nil, err
		}
		return s.finish(r, n, text, att), nil
	}
	var att attachment
	var err error
	if n.Kind == notify.KindTest || n.Message == nil {
		att = r.testAttachment(n)
	} else {
		att, err = r.alertAttachment(s.tmpl, n)
		if err != nil {
			return nil, err
		}
	}
	return s.finish(r, n, withRedirects(s.mentions(n), n), att), nil
}

// finish is the message of text and att, logging what r had to shorten.
func (s *Notifier) finish(r *renderer, n *notify.Notification, text string, att attachment) *message {
	msg := &message{
		Channel:     s.conf.Channel,
		Username:    s.conf.Username,
		IconEmoji:   s.conf.IconEmoji,
		Text:        r.limit("text", text, maxText),
		Attachments: []attachment{att},
	}
	if len(r.cuts) > 0 {
		s.logger.Warn("shortened a slack message to hold Slack's limits",
			"incident", n.IncidentKey, "cut", strings.Join(r.cuts, ", "))
	}
	return msg
}

// alertAttachment is the attachment of a trigger or resolve notification.
func (r *renderer) alertAttachment(tmpl *notify.Template, n *notify.Notification) (attachment, error) {
	escaped := escapeNotification(n)
	title, err := r.title(tmpl, escaped)
	if err != nil {
		return attachment{}, err
	}
	text := r.alertList(n.Message)
	if r.conf.Text != "" {
		if text, err = tmpl.Execute(r.conf.Text, escaped); err != nil {
			return attachment{}, fmt.Errorf("slack text: %w", err)
		}
		text = r.limit("attachment text", strings.TrimSpace(text), maxAttachmentText)
	}
	if ack := r.ackLink(n); ack != "" {
		text = strings.TrimLeft(text+"\n"+ack, "\n")
	}
	return attachment{
		Color:     color(n),
		Fallback:  title,
		Title:     title,
		TitleLink: titleLink(n.Message),
		Text:      text,
		Footer:    footer(n),
		Ts:        unix(n.CreatedAt),
		MrkdwnIn:  []string{"text"},
	}, nil
}

// title renders the configured or default title as one line.
func (r *renderer) title(tmpl *notify.Template, escaped *notify.Notification) (string, error) {
	text := r.conf.Title
	if text == "" {
		text = defaultTitle
	}
	title, err := tmpl.Execute(text, escaped)
	if err != nil {
		return "", fmt.Errorf("slack title: %w", err)
	}
	title = strings.Join(strings.Fields(title), " ")
	if title == "" {
		title, _ = tmpl.Execute(defaultTitle, escaped)
		title = strings.Join(strings.Fields(title), " ")
	}
	return r.limit("title", title, maxTitle), nil
}

// testAttachment is the clearly labelled message of a send-test. It
// notifies nobody.
func (r *renderer) testAttachment(n *notify.Notification) attachment {
	text := "This is a test message from `klaxon-receiver send-test`"
	if n.Channel != "" {
		text += " for the channel *" + escape(n.Channel) + "*"
	}
	text += ". If you can read it, Klaxon can post here. It notifies nobody."
	return attachment{
		Color:    colorOther,
		Fallback: testTitle,
		Title:    testTitle,
		Text:     text,
		Footer:   "klaxon-receiver",
		Ts:       unix(n.CreatedAt),
		MrkdwnIn: []string{"text"},
	}
}

// alertList is the default attachment text: each alert with its summary,
// description, value, labels, start or end and links, firing ones first,
// at most max_alerts of them and no more than fit in maxAttachmentText.
func (r *renderer) alertList(m *alert.Message) string {
	firing, resolved := m.Firing(), m.Resolved()
	total := len(m.Alerts) + int(m.TruncatedAlerts)
	sections := []struct {
		heading string
		alerts  []alert.Alert
	}{
		{fmt.Sprintf("*Firing: %d*\n", len(firing)), firing},
		{fmt.Sprintf("*Resolved: %d*\n", len(resolved)), resolved},
	}
	mixed := len(firing) > 0 && len(resolved) > 0
	var b strings.Builder
	shown := 0
list:
	for _, sec := range sections {
		for i, a := range sec.alerts {
			if shown >= r.conf.MaxAlerts {
				break list
			}
			block := r.alertBlock(a, m.GroupLabels)
			if mixed && i == 0 {
				block = sec.heading + block
			}
			room := maxAttachmentText - moreReserve - utf8.RuneCountInString(b.String())
			if utf8.RuneCountInString(block) > room {
				if shown > 0 {
					r.cuts = append(r.cuts, "alert list")
					break list
				}
				block = r.limit("alert", block, room)
			}
			b.WriteString(block)
			shown++
		}
	}
	if more := total - shown; more > 0 {
		fmt.Fprintf(&b, "_and %d more_", more)
	}
	return strings.TrimRight(b.String(), "\n")
}

// alertBlock describes one alert, ending with a blank line.
func (r *renderer) alertBlock(a alert.Alert, group map[string]string) string {
	var b strings.Builder
	b.WriteString("*" + r.field("alertname", oneLine(a.Labels["alertname"]), maxLabelValue) + "*")
	if s := oneLine(a.Annotations["summary"]); s != "" {
		b.WriteString(": " + r.field("summary", s, maxSummary))
	}
	b.WriteByte('\n')
	if d := strings.TrimSpace(a.Annotations["description"]); d != "" {
		b.WriteString(r.field("description", d, maxDescription) + "\n")
	}
	if v := oneLine(a.Annotations["value"]); v != "" {
		b.WriteString("Value: " + r.field("value", v, maxValue) + "\n")
	}
	if labels := r.labels(a.Labels, group); labels != "" {
		b.WriteString(labels + "\n")
	}
	b.WriteString(strings.Join(r.footnotes(a), " · ") + "\n\n")
	return b.String()
}

// labels lists the labels that tell the alert apart: all but alertname,
// severity and the labels the group is made of, which the title shows.
func (r *renderer) labels(labels, group map[string]string) string {
	var pairs []string
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		if _, grouped := group[name]; grouped || name == "alertname" || name == "severity" {
			continue
		}
		if len(pairs) == maxLabels {
			pairs = append(pairs, "…")
			r.cuts = append(r.cuts, "labels")
			break
		}
		pairs = append(pairs, r.field("label "+name, oneLine(name), maxLabelValue)+"="+
			r.field("label "+name, oneLine(labels[name]), maxLabelValue))
	}
	return strings.Join(pairs, " · ")
}

// footnotes are when the alert started or resolved and its links.
func (r *renderer) footnotes(a alert.Alert) []string {
	notes := []string{"Started " + date(a.StartsAt)}
	if a.Status == alert.StatusResolved {
		notes = []string{"Resolved " + date(a.EndsAt)}
	}
	if u := a.Annotations["runbook_url"]; u != "" {
		notes = append(notes, r.link(u, "Runbook"))
	}
	if u := a.GeneratorURL; u != "" {
		notes = append(notes, r.link(u, "Source"))
	}
	return notes
}

// link is <url|label> for an http or https URL; any other text is shown
// escaped, as text.
func (r *renderer) link(raw, label string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return label + ": " + r.field(strings.ToLower(label), oneLine(raw), maxLabelValue)
	}
	// A "|" would end the URL early and spaces are not part of one.
	clean := strings.NewReplacer("|", "%7C", " ", "%20").Replace(u.String())
	return "<" + escape(clean) + "|" + label + ">"
}

// field shortens an alert's text to n runes and escapes it.
func (r *renderer) field(name, s string, n int) string {
	s, cut := notify.Truncate(s, n)
	if cut {
		r.cuts = append(r.cuts, name)
	}
	return escape(s)
}

// limit shortens Slack text to n runes without cutting an escape, link or
// mention in half.
func (r *renderer) limit(name, s string, n int) string {
	out, cut := truncateMrkdwn(s, n)
	if cut {
		r.cuts = append(r.cuts, name)
	}
	return out
}

// mentions are the control sequences of who must be notified: the
// channel's mentions for the group's severity and those escalation added.
// Only firing messages notify anyone; an escalate message notifies only
// the level's targets that escalation added.
func (s *Notifier) mentions(n *notify.Notification) string {
	return strings.Join(s.mentionSeqs(n), " ")
}

// mentionSeqs are the control sequences mentions joins, each once.
func (s *Notifier) mentionSeqs(n *notify.Notification) []string {
	if n.Message == nil || n.Message.Status != alert.StatusFiring {
		return nil
	}
	var list []Mention
	switch n.Kind {
	case notify.KindTrigger:
		list = slices.Clone(s.conf.Mentions[n.Message.Severity()])
	case notify.KindEscalate:
	default:
		return nil
	}
	for _, raw := range n.Mentions {
		m, err := ParseMention(raw)
		if err != nil {
			s.logger.Warn("dropping a mention Slack cannot notify", "err", err)
			continue
		}
		list = append(list, m)
	}
	var seqs []string
	for _, m := range list {
		if seq := m.Sequence(); !slices.Contains(seqs, seq) {
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// color is the attachment's colour: red for critical and error, yellow
// for warning, green once resolved, grey otherwise.
func color(n *notify.Notification) string {
	if n.Message.Status == alert.StatusResolved {
		return colorResolved
	}
	switch n.Message.Severity() {
	case "critical", "error":
		return colorCritical
	case "warning":
		return colorWarning
	}
	return colorOther
}

// titleLink is Alertmanager's page of the receiver's alerts, else the
// first alert's source.
func titleLink(m *alert.Message) string {
	if isWebURL(m.ExternalURL) {
		return strings.TrimRight(m.ExternalURL, "/") + "/#/alerts?receiver=" + url.QueryEscape(m.Receiver)
	}
	for _, a := range m.Alerts {
		if isWebURL(a.GeneratorURL) {
			return a.GeneratorURL
		}
	}
	return ""
}

func isWebURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func footer(n *notify.Notification) string {
	if n.Route == "" {
		return "klaxon-receiver"
	}
	f := "klaxon-receiver · route " + escape(n.Route)
	if id := n.ShortIncident(); id != "" {
		f += " · incident " + id
	}
	return f
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// date is a Slack date shown in each reader's time zone, with the UTC time
// as the fallback text.
func date(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// escaper escapes the three characters Slack parses in text.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

func escapeMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[escape(k)] = escape(v)
	}
	return out
}

// escapeNotification is n with every text that came from Alertmanager
// escaped, for templates: what they render can then be trusted as Slack
// text, with only the template's own links and mentions active.
func escapeNotification(n *notify.Notification) *notify.Notification {
	c := *n
	m := *n.Message
	m.Receiver = escape(m.Receiver)
	m.ExternalURL = escape(m.ExternalURL)
	m.GroupLabels = escapeMap(m.GroupLabels)
	m.CommonLabels = escapeMap(m.CommonLabels)
	m.CommonAnnotations = escapeMap(m.CommonAnnotations)
	m.Alerts = make([]alert.Alert, len(n.Message.Alerts))
	for i, a := range n.Message.Alerts {
		a.Labels = escapeMap(a.Labels)
		a.Annotations = escapeMap(a.Annotations)
		a.GeneratorURL = escape(a.GeneratorURL)
		m.Alerts[i] = a
	}
	c.Message = &m
	return &c
}

// truncateMrkdwn shortens s to at most n runes ending in "…", backing off
// so that no &entity; and no <link|label>, <@mention> or <!date…> is cut
// in half.
func truncateMrkdwn(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	if n <= 1 {
		return "…", true
	}
	cut := string([]rune(s)[:n-1])
	if open := strings.LastIndexByte(cut, '<'); open > strings.LastIndexByte(cut, '>') {
		cut = cut[:open]
	}
	if amp := strings.LastIndexByte(cut, '&'); amp >= 0 && !strings.Contains(cut[amp:], ";") {
		cut = cut[:amp]
	}
	return cut + "…", true
}
