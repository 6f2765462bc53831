package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/storage"
)

// CheckConfig loads and builds a config file and says what it holds. It
// warns, without failing, about times in the next
// receiverconfig.CoverageHorizon at which nobody would be paged.
func CheckConfig(path string, out io.Writer, logger *slog.Logger) error {
	return checkConfigAt(path, time.Now(), out, logger)
}

func checkConfigAt(path string, now time.Time, out io.Writer, logger *slog.Logger) error {
	rt, err := receiverconfig.Load(path, logger)
	if err != nil {
		return err
	}
	if err := receiverconfig.CheckSecretFiles(path); err != nil {
		return err
	}
	c := rt.Config
	name := path
	if name == "" {
		name = "built-in config"
	}
	fmt.Fprintf(out, "%s: OK, %d channels, %d routes\n", name, len(c.Channels), len(c.Routes))
	for _, r := range c.Routes {
		policy := ""
		if r.EscalationPolicy != "" {
			policy = ", escalation policy " + r.EscalationPolicy
		}
		fmt.Fprintf(out, "  /webhook/%s -> %v%s\n", r.Name, r.Channels, policy)
	}
	if n := len(c.Users) + len(c.Schedules) + len(c.EscalationPolicies); n > 0 {
		fmt.Fprintf(out, "  %d users, %d schedules, %d escalation policies\n", len(c.Users), len(c.Schedules), len(c.EscalationPolicies))
	}
	warnCoverageGaps(out, rt.CoverageGaps(now, receiverconfig.CoverageHorizon), now.Add(receiverconfig.CoverageHorizon))
	return nil
}

// warnCoverageGaps lists each schedule's times with nobody on call that
// would page nobody, in the schedule's zone. A gap that reaches end, the
// end of the days looked at, may go on past it, and says so.
func warnCoverageGaps(out io.Writer, gaps []receiverconfig.CoverageGap, end time.Time) {
	const layout = "2006-01-02 15:04 MST"
	for _, g := range gaps {
		policies := "escalation policy " + g.Policies[0]
		if len(g.Policies) > 1 {
			policies = "escalation policies " + strings.Join(g.Policies, ", ")
		}
		fmt.Fprintf(out, "  warning: schedule %s has nobody on call at these times in the next %s, and neither it nor %s has a fallback: nobody would be paged\n",
			g.Schedule, days(receiverconfig.CoverageHorizon), policies)
		for _, gap := range g.Gaps {
			if !gap.Until.Before(end) {
				fmt.Fprintf(out, "    %s until at least %s, where the %s end\n", gap.From.Format(layout), gap.Until.Format(layout), days(receiverconfig.CoverageHorizon))
				continue
			}
			fmt.Fprintf(out, "    %s until %s\n", gap.From.Format(layout), gap.Until.Format(layout))
		}
	}
}

// days is d in whole days, as "14 days".
func days(d time.Duration) string { return fmt.Sprintf("%d days", int(d/(24*time.Hour))) }

// SendTest sends a test message through one channel, now, bypassing the
// store: it answers "alerts are not arriving" by showing whether the
// channel's upstream takes a message.
func SendTest(ctx context.Context, path, channel string, out io.Writer, logger *slog.Logger) error {
	rt, err := receiverconfig.Load(path, logger)
	if err != nil {
		return err
	}
	ch, ok := rt.Channels[channel]
	if !ok {
		names := make([]string, 0, len(rt.Channels))
		for n := range rt.Channels {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("no channel %q in the config (channels: %v)", channel, names)
	}
	n := testNotification(channel, time.Now())
	rt.Runbooks.ResolveMessage(n.Message)
	if err := ch.Notifier.Notify(ctx, n); err != nil {
		return sendTestError(fmt.Sprintf("channel %q (%s)", channel, ch.Integration), err)
	}
	fmt.Fprintf(out, "test message delivered to channel %q (%s)\n", channel, ch.Integration)
	return nil
}

// The failures of SendTest that its caller tells apart; any other is the
// receiver's own (an unreadable secret file, a template that fails).
var (
	// ErrUnreachable: no answer from the upstream (connection refused,
	// DNS, TLS, timeout).
	ErrUnreachable = errors.New("could not reach the upstream")
	// ErrRefused: the upstream answered, with an error.
	ErrRefused = errors.New("upstream refused")
)

// sendTestError says why a test message to channel (its name and kind)
// failed: the upstream could not be reached, it refused, or the message
// was never sent. Notifiers' errors hide secrets (notify.RedactURL,
// notify.Redact); this adds none, only the upstream's host.
func sendTestError(channel string, err error) error {
	retry, _, reason := notify.Classify(err)
	var ne *notify.Error
	var ue *url.Error
	classified := errors.As(err, &ne)
	switch {
	case classified && ne.StatusCode != 0:
		status := fmt.Sprintf("%d %s", ne.StatusCode, http.StatusText(ne.StatusCode))
		return &classError{ErrRefused, fmt.Sprintf("%s: upstream refused: %s (%s, %s): %v", channel, status, reason, retried(retry), err)}
	case errors.As(err, &ue):
		return &classError{ErrUnreachable, fmt.Sprintf("%s: could not reach %s (%s): %v", channel, host(ue.URL), reason, err)}
	case errors.Is(err, context.DeadlineExceeded) || classified && (ne.Reason == notify.ReasonNetwork || ne.Reason == notify.ReasonTimeout):
		return &classError{ErrUnreachable, fmt.Sprintf("%s: could not reach the upstream (%s): %v", channel, reason, err)}
	case classified && ne.Reason != notify.ReasonInvalid:
		// An upstream's answer that is an error without an error status,
		// such as Slack's 200 that is not "ok".
		return &classError{ErrRefused, fmt.Sprintf("%s: upstream refused (%s, %s): %v", channel, reason, retried(retry), err)}
	}
	return fmt.Errorf("%s: the test message was not sent: %w", channel, err)
}

// retried says whether the receiver would try a delivery again.
func retried(retry bool) string {
	if retry {
		return "a delivery would be retried"
	}
	return "a delivery would not be retried"
}

// host is the host of a notifier's redacted URL, which keeps scheme and
// host only.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the upstream"
	}
	return u.Host
}

func testNotification(channel string, now time.Time) *notify.Notification {
	labels := map[string]string{"alertname": "KlaxonTest", "severity": "info"}
	msg := &alert.Message{
		Version: "4", GroupKey: "{}:{alertname=\"KlaxonTest\"}", Status: alert.StatusFiring,
		Receiver: "klaxon-receiver", GroupLabels: map[string]string{"alertname": "KlaxonTest"},
		CommonLabels: labels, CommonAnnotations: map[string]string{},
		Alerts: []alert.Alert{{
			Status: alert.StatusFiring, Labels: labels, StartsAt: now, Fingerprint: "0000000000000000",
			Annotations: map[string]string{
				"summary":     "Test message from klaxon-receiver send-test",
				"description": "If you read this, channel " + channel + " delivers. Nothing is wrong.",
			},
		}},
	}
	return &notify.Notification{
		Channel: channel, Route: "send-test", Kind: notify.KindTest, Message: msg, CreatedAt: now,
		IncidentKey: alert.IncidentKey("send-test", msg.GroupKey),
	}
}

// openStore opens the store the config at path names.
func openStore(ctx context.Context, path string) (storage.Store, error) {
	cfg, err := receiverconfig.Read(path)
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(ctx, cfg.Storage, storage.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	return st, nil
}

// ListDeadLetters prints the dead letters of the store the config names.
func ListDeadLetters(ctx context.Context, path string, out io.Writer) error {
	st, err := openStore(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	dead, err := st.DeadLetters(ctx)
	if err != nil {
		return err
	}
	if len(dead) == 0 {
		fmt.Fprintln(out, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHANNEL\tROUTE\tKIND\tACCEPTED\tATTEMPTS\tLAST ERROR")
	for _, d := range dead {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.Channel, d.Route, d.Kind,
			d.CreatedAt.UTC().Format(time.RFC3339), d.Attempts, d.LastError)
	}
	return tw.Flush()
}

// RetryDeadLetters makes dead letters pending again: the given ids, or all.
// A running receiver delivers them within its poll interval. Dead letters
// superseded by a later delivery to the same channel and incident stay dead
// and are listed.
func RetryDeadLetters(ctx context.Context, path string, ids []int64, out io.Writer) error {
	st, err := openStore(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Requeue(ctx, time.Now(), ids...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letters queued for delivery again\n", res.Requeued)
	if n := len(res.Superseded); n > 0 {
		fmt.Fprintf(out, "skipped %d dead letters superseded by a later delivery to the same channel: %s\n",
			n, joinIDs(res.Superseded))
	}
	return nil
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ", ")
}

// ShowOnCall prints who is on call at at for every schedule, or for the
// one named, and the next handoffs, as a table. Times are in each
// schedule's zone.
func ShowOnCall(path string, at time.Time, schedule string, out io.Writer, logger *slog.Logger) error {
	rt, err := receiverconfig.Load(path, logger)
	if err != nil {
		return err
	}
	status := rt.OnCallStatus(at, receiverconfig.NextHandoffs)
	if schedule != "" {
		status = slices.DeleteFunc(status, func(s receiverconfig.ScheduleStatus) bool { return s.Schedule != schedule })
		if len(status) == 0 {
			return fmt.Errorf("no schedule %q in the config (schedules: %s)", schedule, scheduleNames(rt.Config))
		}
	}
	fmt.Fprintf(out, "on call at %s\n", at.Format(time.RFC3339))
	if len(status) == 0 {
		fmt.Fprintln(out, "no schedules in the config")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tTIME ZONE\tON CALL\tNEXT HANDOFFS")
	for _, s := range status {
		who := nobody
		if s.OnCall != nil {
			who = s.OnCall.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t", s.Schedule, s.TimeZone, who)
		if len(s.NextHandoffs) == 0 {
			fmt.Fprintln(tw, "none")
		}
		for i, h := range s.NextHandoffs {
			if i > 0 {
				fmt.Fprint(tw, "\t\t\t")
			}
			fmt.Fprintf(tw, "%s  %s -> %s\n", h.At.Format("2006-01-02 15:04 MST"), orNobody(h.From), orNobody(h.To))
		}
	}
	return tw.Flush()
}

const nobody = "(nobody)"

func orNobody(user string) string {
	if user == "" {
		return nobody
	}
	return user
}

func scheduleNames(c *receiverconfig.Config) string {
	if len(c.Schedules) == 0 {
		return "none"
	}
	names := make([]string, len(c.Schedules))
	for i, s := range c.Schedules {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// SimulateOptions says what Simulate plays.
type SimulateOptions struct {
	// Alert is the file of an Alertmanager webhook payload, firing.
	Alert string
	// Route is the route the payload arrives on. Default: the only route
	// with an escalation policy.
	Route string
	// Start is when the incident starts.
	Start time.Time
	// Until is how long after Start the simulation runs.
	Until time.Duration
}

// DefaultSimulateUntil is how long a simulation runs by default.
const DefaultSimulateUntil = 24 * time.Hour

// Simulate prints, without sending anything, the escalation timeline that
// the config produces for a payload: who is paged, through which channels,
// and when, if nobody acknowledges and the incident does not resolve.
func Simulate(path string, opts SimulateOptions, out io.Writer, logger *slog.Logger) error {
	rt, err := receiverconfig.Load(path, logger)
	if err != nil {
		return err
	}
	msg, err := readPayload(opts.Alert)
	if err != nil {
		return err
	}
	route, err := simulationRoute(rt.Config, opts.Route)
	if err != nil {
		return err
	}
	policy, _ := rt.Config.EscalationPolicies.Get(route.EscalationPolicy)
	if opts.Until <= 0 {
		opts.Until = DefaultSimulateUntil
	}
	var fps []string
	for _, a := range msg.Firing() {
		fps = append(fps, a.Fingerprint)
	}
	events := []escalation.TimedEvent{{At: opts.Start, Event: escalation.Alerts{Fingerprints: fps}}}
	end := opts.Start.Add(opts.Until)
	pages := escalation.Simulate(policy, rt.Roster, rt.Roster, opts.Start, events, end)

	fmt.Fprintf(out, "route %s, escalation policy %s, incident %s\n", route.Name, policy.Name, alert.ShortID(alert.IncidentKey(route.Name, msg.GroupKey)))
	fmt.Fprintf(out, "alerts: %d firing (%s)\n", len(fps), msg.CommonLabels["alertname"])
	fmt.Fprintf(out, "channels: %s\n", describeChannels(rt, route))
	fmt.Fprintf(out, "from %s until %s (%s), nobody acknowledging\n\n",
		opts.Start.Format("2006-01-02 15:04:05 MST"), end.Format("2006-01-02 15:04:05 MST"), opts.Until)
	if len(pages) == 0 {
		fmt.Fprintln(out, "nobody is paged in that time")
	}
	fmt.Fprint(out, escalation.Timeline(opts.Start, pages))
	return nil
}

func readPayload(file string) (*alert.Message, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading the alert payload: %w", err)
	}
	defer f.Close()
	msg, err := alert.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid Alertmanager payload: %w", file, err)
	}
	if len(msg.Firing()) == 0 {
		return nil, fmt.Errorf("%s: no firing alert in the payload: only a firing notification starts an incident", file)
	}
	return msg, nil
}

// simulationRoute is the named route, which must have an escalation
// policy, or without a name the only route that has one.
func simulationRoute(c *receiverconfig.Config, name string) (*receiverconfig.Route, error) {
	if name != "" {
		r := c.Route(name)
		switch {
		case r == nil:
			return nil, fmt.Errorf("no route %q in the config (%s)", name, c.DescribeRoutes())
		case r.EscalationPolicy == "":
			return nil, fmt.Errorf("route %q has no escalation_policy: nobody would be paged by the receiver", name)
		}
		return r, nil
	}
	var with []string
	for _, r := range c.Routes {
		if r.EscalationPolicy != "" {
			with = append(with, r.Name)
		}
	}
	switch len(with) {
	case 0:
		return nil, errors.New("no route has an escalation_policy: nothing to simulate")
	case 1:
		return c.Route(with[0]), nil
	}
	return nil, fmt.Errorf("routes %s have escalation policies: name one with --route", strings.Join(with, ", "))
}

// describeChannels says what each of the route's channels does with a
// page.
func describeChannels(rt *receiverconfig.Runtime, r *receiverconfig.Route) string {
	if len(r.Channels) == 0 {
		return "none (the incident is recorded, nobody hears of it)"
	}
	parts := make([]string, len(r.Channels))
	for i, name := range r.Channels {
		ch := rt.Channels[name]
		if _, isChat := ch.Notifier.(notify.Chat); isChat {
			parts[i] = fmt.Sprintf("%s (%s: mentions the level's targets)", name, ch.Integration)
		} else {
			parts[i] = fmt.Sprintf("%s (%s: pages through its own escalation)", name, ch.Integration)
		}
	}
	return strings.Join(parts, ", ")
}

// classError is an error of a class its caller tells apart
// (ErrUnreachable, ErrRefused), in words of its own.
type classError struct {
	class error
	msg   string
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }
