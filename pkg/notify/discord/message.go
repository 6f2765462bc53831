package discord

import (
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// Discord's limits on a message executed through a webhook, from its API
// reference (resources/webhook, resources/message: "Embed Limits"). Texts
// are measured in characters after trimming whitespace.
const (
	maxContent     = 2000 // content
	maxEmbeds      = 10   // embeds of one message
	maxTitle       = 256  // embed title
	maxDescription = 4096 // embed description
	maxFields      = 25   // fields of one embed
	maxFieldName   = 256  // field name
	maxFieldValue  = 1024 // field value
	maxFooter      = 2048 // footer text
	// maxEmbedTotal bounds the sum of every title, description, field
	// name and value, footer text and author name of all embeds together.
	maxEmbedTotal = 6000
	// maxLink is the longest markdown link kept whole: a field value.
	maxLink = maxFieldValue
	// maxMentionIDs bounds each of allowed_mentions.roles and .users.
	maxMentionIDs = 100
)

// Embed colours (Discord takes an integer RGB value).
const (
	colorCritical = 0xE74C3C // firing critical or error: red
	colorWarning  = 0xE67E22 // firing warning: orange
	colorResolved = 0x2ECC71 // resolved: green
	colorOther    = 0x95A5A6 // firing with another severity: grey
	colorTest     = 0x5865F2 // send-test
)

// message is the JSON body of "Execute Webhook".
type message struct {
	Content         string          `json:"content,omitempty"`
	Username        string          `json:"username,omitempty"`
	AvatarURL       string          `json:"avatar_url,omitempty"`
	Embeds          []embed         `json:"embeds,omitempty"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

// allowedMentions is always sent with parse empty, so that only the IDs
// listed here can ping, and only from content.
type allowedMentions struct {
	Parse []string `json:"parse"`
	Roles []string `json:"roles"`
	Users []string `json:"users"`
}

type embed struct {
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color"`
	Timestamp   string  `json:"timestamp,omitempty"`
	Footer      *footer `json:"footer,omitempty"`
	Fields      []field `json:"fields,omitempty"`

	// body and links make up Description once the embed is fitted: body
	// may be shortened, links are kept whole.
	body, links string
	// more counts the detail fields dropped to fit.
	more int
}

type footer struct {
	Text string `json:"text"`
}

type field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`

	// whole marks a value holding a link to raw, which is not cut.
	whole bool
	raw   string
	// detail marks a label or annotation, which may be dropped to fit.
	detail bool
	// moreField marks the "and N more" field.
	moreField bool
}

// build turns a notification into the message to post.
func (n *Notifier) build(nt *notify.Notification) (*message, error) {
	msg := &message{
		Username:        n.conf.Username,
		AvatarURL:       n.conf.AvatarURL,
		AllowedMentions: allowedMentions{Parse: []string{}, Roles: []string{}, Users: []string{}},
	}
	if nt.Kind == notify.KindTest {
		msg.Content, msg.Embeds = testMessage(nt)
		return msg, nil
	}
	if nt.Message == nil || len(nt.Message.Alerts) == 0 {
		return nil, notify.Errorf(notify.ReasonInvalid, "notification %d has no alerts", nt.ID)
	}
	logger := n.logger.With("incident", nt.IncidentKey)
	if nt.Kind.Enveloped() {
		n.escalationMessage(logger, nt, msg)
		return msg, nil
	}
	alerts := ordered(nt.Message.Alerts)
	shown := alerts[:min(len(alerts), n.conf.MaxAlerts)]
	for _, withLinks := range []bool{true, false} {
		msg.Embeds = msg.Embeds[:0]
		for _, a := range shown {
			msg.Embeds = append(msg.Embeds, n.alertEmbed(logger, nt, a, withLinks))
		}
		// The description's links go first, the Runbook field stays, when
		// links would take more than a quarter of the embeds' budget.
		if wholeSize(msg.Embeds) <= maxEmbedTotal/4 {
			break
		}
	}
	if wholeSize(msg.Embeds) > maxEmbedTotal/2 {
		flatten(msg.Embeds)
	}
	fit(logger, msg.Embeds)
	summary := withRedirects(summaryLine(nt, len(alerts)+int(nt.Message.TruncatedAlerts), len(shown)), nt)
	if ack := ackLink(nt); ack != "" {
		summary += "\n" + ack
	}
	msg.Content, msg.AllowedMentions = n.mentions(logger, nt, summary)
	return msg, nil
}

// ordered puts firing alerts first, keeping Alertmanager's order otherwise.
func ordered(alerts []alert.Alert) []alert.Alert {
	out := slices.Clone(alerts)
	slices.SortStableFunc(out, func(a, b alert.Alert) int {
		return boolInt(a.Status != alert.StatusFiring) - boolInt(b.Status != alert.StatusFiring)
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// alertEmbed renders one alert.
func (n *Notifier) alertEmbed(logger *slog.Logger, nt *notify.Notification, a alert.Alert, withLinks bool) embed {
	e := embed{
		Title:  n.render(logger, "title", n.conf.Title, nt, a, defaultTitle),
		body:   n.render(logger, "description", n.conf.Description, nt, a, defaultBody),
		Color:  color(a),
		Footer: &footer{Text: footerText(nt)},
		Fields: alertFields(a, nt.Message.CommonLabels),
	}
	for len(e.Fields) > maxFields {
		if !e.dropDetail() {
			break
		}
	}
	if !a.StartsAt.IsZero() {
		e.Timestamp = a.StartsAt.UTC().Format(time.RFC3339)
	}
	if withLinks {
		e.links = descriptionLinks(a)
	}
	return e
}

// descriptionLinks are the runbook and the alert's source (Prometheus'
// graph of the rule's expression).
func descriptionLinks(a alert.Alert) string {
	var links []string
	if l, ok := mdLink("Runbook", a.Annotations["runbook_url"]); ok && runes(l) <= maxLink {
		links = append(links, l)
	}
	if l, ok := mdLink("Source", a.GeneratorURL); ok && runes(l) <= maxLink {
		links = append(links, l)
	}
	return strings.Join(links, " · ")
}

// render executes a user's template for one alert, with the alert's text
// escaped, or the built-in rendering when there is none. A template that
// fails falls back to the built-in rendering, so that the page still goes
// out.
func (n *Notifier) render(logger *slog.Logger, name, text string, nt *notify.Notification, a alert.Alert, builtin func(alert.Alert) string) string {
	if text == "" {
		return builtin(a)
	}
	out, err := n.tmpl.Execute(text, narrow(nt, escapeAlert(a)))
	if err != nil {
		logger.Warn("discord template failed, using the built-in text", "template", name, "err", err)
		return builtin(a)
	}
	return strings.TrimSpace(neutralise(out))
}

// narrow is the notification as if its group held only a, so that a
// template sees the alert's own labels as .CommonLabels.
func narrow(nt *notify.Notification, a alert.Alert) *notify.Notification {
	m := *nt.Message
	m.Status, m.Alerts = a.Status, []alert.Alert{a}
	m.CommonLabels, m.CommonAnnotations = a.Labels, a.Annotations
	m.GroupLabels = map[string]string{}
	for k := range nt.Message.GroupLabels {
		m.GroupLabels[k] = a.Labels[k]
	}
	out := *nt
	out.Message = &m
	return &out
}

// escapeAlert escapes every label and annotation value of a except those
// holding a link, for templates.
func escapeAlert(a alert.Alert) alert.Alert {
	esc := func(in map[string]string) map[string]string {
		out := make(map[string]string, len(in))
		for k, v := range in {
			if isHTTPURL(v) {
				out[k] = v
			} else {
				out[k] = escape(v)
			}
		}
		return out
	}
	a.Labels, a.Annotations = esc(a.Labels), esc(a.Annotations)
	return a
}

func defaultTitle(a alert.Alert) string {
	return fmt.Sprintf("[%s] %s", strings.ToUpper(a.Status), escape(a.Labels["alertname"]))
}

func defaultBody(a alert.Alert) string {
	var parts []string
	if s := strings.TrimSpace(a.Annotations["summary"]); s != "" {
		parts = append(parts, "**"+escape(s)+"**")
	}
	if s := strings.TrimSpace(a.Annotations["description"]); s != "" {
		parts = append(parts, escape(s))
	}
	return strings.Join(parts, "\n")
}

// annotationsInText are shown in the description or as links, not as
// fields.
var annotationsInText = map[string]bool{"summary": true, "description": true, "runbook_url": true}

// alertFields are the labels (inline) and the other annotations, as
// details, then how long a resolved alert fired and the runbook. Labels
// that set the alert apart from the group come first, as details are
// dropped from the end when the message is too long.
func alertFields(a alert.Alert, common map[string]string) []field {
	var out []field
	keys := slices.Sorted(maps.Keys(a.Labels))
	slices.SortStableFunc(keys, func(x, y string) int {
		return boolInt(common[x] != "") - boolInt(common[y] != "")
	})
	for _, k := range keys {
		if k != "alertname" {
			out = append(out, field{Name: fieldName(k), Value: orDash(escape(a.Labels[k])), Inline: true, detail: true})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.Annotations)) {
		if !annotationsInText[k] {
			f := valueField(fieldName(k), a.Annotations[k])
			f.detail = true
			out = append(out, f)
		}
	}
	if a.Status == alert.StatusResolved && !a.EndsAt.IsZero() && a.EndsAt.After(a.StartsAt) {
		out = append(out, field{Name: "Resolved after", Value: notify.Since(a.StartsAt, a.EndsAt), Inline: true})
	}
	if rb := a.Annotations["runbook_url"]; rb != "" {
		out = append(out, valueField("Runbook", rb))
	}
	return out
}

// dropDetail removes the last detail field of e and counts it in an
// "and N more" field after the remaining details; false when e has no
// detail left.
func (e *embed) dropDetail() bool {
	last := -1
	for i, f := range e.Fields {
		if f.detail {
			last = i
		}
	}
	if last < 0 {
		return false
	}
	e.Fields = slices.Delete(e.Fields, last, last+1)
	e.more++
	more := slices.IndexFunc(e.Fields, func(f field) bool { return f.moreField })
	if more < 0 {
		more = last
		e.Fields = slices.Insert(e.Fields, more, field{Name: "…", moreField: true})
	}
	e.Fields[more].Value = fmt.Sprintf("and %d more", e.more)
	return true
}

// flatten turns the links of embeds into text that may be cut: the last
// resort when links alone would not leave room for the alerts' text.
func flatten(embeds []embed) {
	for i := range embeds {
		embeds[i].links = ""
		for j := range embeds[i].Fields {
			if f := &embeds[i].Fields[j]; f.whole {
				f.Value, f.whole = escape(f.raw), false
			}
		}
	}
}

// valueField shows an annotation: a link when it is a web address, else
// escaped text.
func valueField(name, value string) field {
	if l, ok := mdLink(linkText(value), value); ok && runes(l) <= maxLink {
		return field{Name: name, Value: l, whole: true, raw: value}
	}
	return field{Name: name, Value: orDash(escape(value))}
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// fieldName shows a label or annotation name. A valid label name cannot
// start markdown (an "_" inside a word does not), so it is shown as is.
// fieldName is a label or annotation name as an embed field's name. Discord
// refuses a blank name, and UTF-8 label names can be only whitespace.
func fieldName(k string) string {
	if labelNameRE.MatchString(k) {
		return k
	}
	return orDash(escape(k))
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func color(a alert.Alert) int {
	if a.Status == alert.StatusResolved {
		return colorResolved
	}
	switch strings.ToLower(a.Labels["severity"]) {
	case "critical", "error":
		return colorCritical
	case "warning":
		return colorWarning
	}
	return colorOther
}

// summaryLine is the plain part of content: counts and the route, no
// alert-provided text. total counts the group's alerts, those
// Alertmanager left out of the notification (truncatedAlerts) included.
func summaryLine(nt *notify.Notification, total, shown int) string {
	m := nt.Message
	firing, resolved := len(m.Firing()), len(m.Resolved())
	route := escape(nt.Route)
	var s string
	if nt.Kind == notify.KindResolve || firing == 0 {
		s = fmt.Sprintf("**Resolved:** %s on route %s.", plural(resolved, "alert"), route)
	} else {
		s = "**Firing:** " + plural(firing, "alert")
		if resolved > 0 {
			s += fmt.Sprintf(", %d resolved,", resolved)
		}
		s += " on route " + route + "."
	}
	if total > shown {
		s += fmt.Sprintf("\n…and %d more not shown.", total-shown)
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func testMessage(nt *notify.Notification) (string, []embed) {
	content := "**klaxon-receiver send-test**: a test message; it pings nobody."
	e := embed{
		Title:       "klaxon-receiver send-test",
		Description: fmt.Sprintf("If you can read this, klaxon-receiver can deliver to the Discord channel **%s**. No action is needed.", escape(nt.Channel)),
		Color:       colorTest,
		Footer:      &footer{Text: "Klaxon · send-test"},
	}
	if !nt.CreatedAt.IsZero() {
		e.Timestamp = nt.CreatedAt.UTC().Format(time.RFC3339)
	}
	return content, []embed{e}
}

var mentionRE = regexp.MustCompile(`^<@(!|&)?([0-9]+)>$`)

// mentions builds content (the mentions, then summary) and the matching
// allowed_mentions. Only a firing message pings: the channel's mentions
// for the group's severity and those escalation added. An escalate message
// pings only the level's targets that escalation added.
func (n *Notifier) mentions(logger *slog.Logger, nt *notify.Notification, summary string) (string, allowedMentions) {
	roles, users := n.mentionIDs(logger, nt)
	return content(logger, roles, users, summary)
}

// mentionIDs are the roles and users nt's message pings.
func (n *Notifier) mentionIDs(logger *slog.Logger, nt *notify.Notification) (roles, users []string) {
	if nt.Message == nil || len(nt.Message.Firing()) == 0 {
		return nil, nil
	}
	switch nt.Kind {
	case notify.KindTrigger:
		conf := n.conf.Mentions[nt.Message.Severity()]
		roles, users = slices.Clone(conf.Roles), slices.Clone(conf.Users)
	case notify.KindEscalate:
	default:
		return nil, nil
	}
	for _, m := range nt.Mentions {
		sub := mentionRE.FindStringSubmatch(m)
		if sub == nil || !isSnowflake(sub[2]) {
			logger.Warn("ignoring a mention that is not a Discord user or role mention", "mention", m)
			continue
		}
		if sub[1] == "&" {
			roles = append(roles, sub[2])
		} else {
			users = append(users, sub[2])
		}
	}
	return roles, users
}

// content is the mentions of roles and users, each once, then summary,
// with the allowed_mentions that lets exactly them ping. Mentions past
// Discord's limits are dropped, with a warning.
func content(logger *slog.Logger, roles, users []string, summary string) (string, allowedMentions) {
	am := allowedMentions{Parse: []string{}, Roles: []string{}, Users: []string{}}
	var tokens []string
	room := maxContent - len([]rune(summary)) - 1
	add := func(ids []string, prefix string, out *[]string) {
		for _, id := range ids {
			tok := prefix + id + ">"
			switch {
			case slices.Contains(*out, id):
			case len(*out) >= maxMentionIDs || len(tok)+1 > room:
				logger.Warn("dropping a mention past Discord's limits", "mention", tok)
			default:
				*out = append(*out, id)
				tokens = append(tokens, tok)
				room -= len(tok) + 1
			}
		}
	}
	add(roles, "<@&", &am.Roles)
	add(users, "<@", &am.Users)
	if len(tokens) == 0 {
		return summary, am
	}
	return strings.Join(tokens, " ") + "\n" + summary, am
}

// footerText names the route and, for an incident with an escalation, its
// short ID as the incidents and ack commands take it.
func footerText(nt *notify.Notification) string {
	f := "Klaxon · route " + nt.Route
	if id := nt.ShortIncident(); id != "" {
		f += " · incident " + id
	}
	return neutralise(f)
}
