package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite" // the test reads the outbox's leases directly

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

const (
	// startTimeout bounds how long the receiver may take to become ready.
	startTimeout = 30 * time.Second
	// deliveryTimeout bounds how long deliveries may take to arrive. The
	// crash test needs the most: 20 Discord messages at Discord's pace of
	// one every 2 seconds after a burst of 4.
	deliveryTimeout = 50 * time.Second
)

// Secrets of the test config, which must never show in the receiver's
// output.
const (
	routingKey  = "0123456789abcdef0123456789abcdef"
	opsgenieKey = "opsgenie-s3cret-key"
)

// TestReceiver runs the built klaxon-receiver against fakes of PagerDuty,
// Opsgenie, Slack and Discord. The subtests share one build and run in
// parallel, each with its own fakes, store and port.
func TestReceiver(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-receiver")
	t.Run("check-config", func(t *testing.T) { testCheckConfig(t, bin) })
	t.Run("port taken", func(t *testing.T) { testPortTaken(t, bin) })
	t.Run("receiver", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			run  func(*testing.T, string)
		}{
			{"crash", testCrash},
			{"happy path", testHappyPath},
			{"dead letters", testDeadLetters},
			{"send-test", testSendTest},
			{"incident commands", testIncidentCommands},
			{"reload", testReload},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, bin)
			})
		}
	})
}

// fakes are the four upstreams, with the webhook URLs the config uses.
type fakes struct {
	pd         *pagerdutytest.Server
	og         *opsgenietest.Server
	slack      *slacktest.Server
	slackURL   string
	discord    *discordtest.Server
	discordURL string
}

func newFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{pd: pagerdutytest.NewServer(), og: opsgenietest.NewServer(opsgenieKey),
		slack: slacktest.NewServer(), discord: discordtest.NewServer()}
	t.Cleanup(func() { f.pd.Close(); f.og.Close(); f.slack.Close(); f.discord.Close() })
	f.slackURL = f.slack.NewWebhook()
	f.discordURL = f.discord.AddWebhook("112233445566778899", "discord-s3cret-token")
	return f
}

// secrets are the values the receiver must keep out of its output.
func (f *fakes) secrets() []string {
	return []string{routingKey, opsgenieKey, "discord-s3cret-token", strings.TrimPrefix(f.slackURL, f.slack.URL()+"/services/")}
}

// instance is a klaxon-receiver process with its config and store.
type instance struct {
	*testenv.Process
	bin, dir, config, addr string
}

// writeConfig writes a config whose channels point at the fakes, with
// the route critical to all four channels, the route chat to Slack, and
// extraRoutes. The routing key and Slack URL are given as files relative
// to the config's directory.
func writeConfig(t *testing.T, dir, addr string, f *fakes, extraRoutes string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "secrets", "pagerduty-routing-key"), routingKey+"\n")
	writeFile(t, filepath.Join(dir, "secrets", "slack-url"), f.slackURL+"\n")
	config := fmt.Sprintf(`global:
  external_url: http://%s/
storage:
  path: %s
channels:
  - name: pagerduty
    pagerduty:
      routing_key_file: secrets/pagerduty-routing-key
      url: %s
  - name: opsgenie
    opsgenie:
      api_key: %s
      api_url: %s
  - name: slack
    slack:
      webhook_url_file: secrets/slack-url
  - name: discord
    discord:
      webhook_url: %s
routes:
  - name: critical
    channels: [pagerduty, opsgenie, slack, discord]
  - name: chat
    channels: [slack]
%s`, addr, filepath.Join(dir, "data", "receiver.db"), f.pd.URL(), opsgenieKey, f.og.URL(), f.discordURL, extraRoutes)
	file := filepath.Join(dir, "klaxon-receiver.yml")
	writeFile(t, file, config)
	return file
}

// startReceiver writes the config and starts the receiver on a free port.
func startReceiver(t *testing.T, bin string, f *fakes) *instance {
	t.Helper()
	r := &instance{bin: bin, dir: t.TempDir(), addr: testenv.FreeAddr(t)}
	r.config = writeConfig(t, r.dir, r.addr, f, "")
	r.start(t)
	return r
}

// start runs the binary and waits until it is ready.
func (r *instance) start(t *testing.T) {
	t.Helper()
	r.Process = testenv.StartProcess(t, "", r.bin, "--config.file="+r.config, "--web.listen-address="+r.addr)
	r.WaitReady(t, r.url("/-/ready"), startTimeout)
}

func (r *instance) url(path string) string { return "http://" + r.addr + path }

// post sends a payload to a route and returns the status and body.
func (r *instance) post(t *testing.T, route string, body []byte) (int, string) {
	t.Helper()
	code, answer, err := httpDo(t.Context(), http.MethodPost, r.url("/webhook/"+route), body)
	if err != nil {
		t.Fatal(err)
	}
	return code, answer
}

// mustPost sends a payload and fails unless it is accepted.
func (r *instance) mustPost(t *testing.T, route string, m *alert.Message) {
	t.Helper()
	if code, body := r.post(t, route, encode(t, m)); code != http.StatusOK {
		t.Fatalf("POST /webhook/%s: %d %s, want 200", route, code, body)
	}
}

func httpDo(ctx context.Context, method, url string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// run runs a sub-command of the binary to its end.
func (r *instance) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCommand(t, r.bin, append([]string{"--config.file=" + r.config}, args...)...)
}

func runCommand(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// message is a firing or resolved payload of the group alertname=name,
// whose runbook_url is relative, as the rules in rules/ write it.
func message(name, status string) *alert.Message {
	labels := map[string]string{"alertname": name, "severity": "critical", "job": "api"}
	annotations := map[string]string{"summary": name + " fires", "runbook_url": "higherrorrate"}
	a := alert.Alert{Status: status, Labels: labels, Annotations: annotations, Fingerprint: "f" + strings.ToLower(name),
		StartsAt: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)}
	if status == alert.StatusResolved {
		a.EndsAt = a.StartsAt.Add(10 * time.Minute)
	}
	return &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="` + name + `"}`, Status: status, Receiver: "klaxon-critical",
		GroupLabels: map[string]string{"alertname": name}, CommonLabels: labels, CommonAnnotations: annotations,
		ExternalURL: "http://alertmanager:9093", Alerts: []alert.Alert{a},
	}
}

func encode(t *testing.T, m *alert.Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testHappyPath posts a firing then a resolved notification: every
// upstream hears trigger then resolve, with the runbook link made absolute
// to the receiver's own runbook pages, which answer.
func testHappyPath(t *testing.T, bin string) {
	f := newFakes(t)
	r := startReceiver(t, bin, f)
	key := alert.IncidentKey("critical", message("HighErrorRate", "firing").GroupKey)
	runbook := r.url("/runbooks/higherrorrate")

	r.mustPost(t, "critical", message("HighErrorRate", "firing"))
	awaitCounts(t, f, 1, 1, 0)
	r.mustPost(t, "critical", message("HighErrorRate", "resolved"))
	awaitCounts(t, f, 2, 1, 1)

	var pd []string
	for _, ev := range f.pd.Received() {
		pd = append(pd, ev.EventAction+" "+ev.DedupKey)
	}
	if diff := cmp.Diff([]string{"trigger " + key, "resolve " + key}, pd); diff != "" {
		t.Errorf("PagerDuty events (-want +got):\n%s", diff)
	}
	if ev := f.pd.Received()[0]; !slices.Contains(ev.Links, pagerdutytest.Link{Href: runbook, Text: "Runbook: HighErrorRate"}) {
		t.Errorf("PagerDuty trigger links %v, want the runbook %s", ev.Links, runbook)
	}
	created, closed := f.og.Received()[0], f.og.Closed()[0]
	if created.Alias != key || closed.Alias != key || created.Details["runbook_url"] != runbook {
		t.Errorf("Opsgenie: created alias %q (runbook %q), closed alias %q; want %q and %s",
			created.Alias, created.Details["runbook_url"], closed.Alias, key, runbook)
	}
	slackMsgs := f.slack.Received()
	checkOrder(t, "Slack", string(slackMsgs[0].Body), string(slackMsgs[1].Body), runbook)
	discordMsgs := f.discord.Received()
	checkOrder(t, "Discord", string(discordMsgs[0].Raw), string(discordMsgs[1].Raw), runbook)

	if code, body, err := httpDo(t.Context(), http.MethodGet, runbook, nil); err != nil || code != http.StatusOK || !strings.Contains(body, "HighErrorRate") {
		t.Errorf("GET %s: %d %v, want 200 and the runbook page", runbook, code, err)
	}
	assertNoSecrets(t, r.Output(), f.secrets())
}

// checkOrder checks that a chat upstream got the firing message first,
// with the runbook link, and the resolved one second.
func checkOrder(t *testing.T, upstream, first, second, runbook string) {
	t.Helper()
	if !strings.Contains(first, "FIRING") || !strings.Contains(second, "RESOLVED") {
		t.Errorf("%s messages out of order, want FIRING then RESOLVED:\n%s\n%s", upstream, first, second)
	}
	if !strings.Contains(first, runbook) {
		t.Errorf("%s firing message lacks the runbook link %s:\n%s", upstream, runbook, first)
	}
}

// awaitCounts waits until PagerDuty has events, Opsgenie created alerts
// and closes, and Slack and Discord have events messages.
func awaitCounts(t *testing.T, f *fakes, events, created, closed int) {
	t.Helper()
	testenv.Eventually(t, deliveryTimeout, func() error {
		got := []int{len(f.pd.Received()), len(f.og.Received()), len(f.og.Closed()), len(f.slack.Received()), len(f.discord.Received())}
		want := []int{events, created, closed, events, events}
		if !slices.Equal(got, want) {
			return fmt.Errorf("PagerDuty events, Opsgenie created and closed, Slack and Discord messages: %v, want %v", got, want)
		}
		return nil
	})
}

// crashIncidents is how many incidents the crash test posts.
const crashIncidents = 20

// upstreamHold is the Retry-After of the fakes' failures: longer than the
// deliverer's wait for a channel (5s), so that it puts every delivery
// back in the outbox rather than holding it under lease, and the process
// can be killed with nothing leased.
const upstreamHold = 10 * time.Second

// testCrash makes every upstream fail, posts 20 incidents, kills the
// receiver with SIGKILL while all their deliveries are pending, and starts
// it again on the same store: every incident reaches every upstream.
func testCrash(t *testing.T, bin string) {
	f := newFakes(t)
	// Each upstream fails the first request with a Retry-After; the
	// receiver then holds the channel back and sends it nothing more
	// before the kill.
	f.pd.FailNext(1, fakeapi.Fault{Status: http.StatusServiceUnavailable, RetryAfter: upstreamHold})
	f.og.FailNext(1, fakeapi.Fault{Status: http.StatusServiceUnavailable, RetryAfter: upstreamHold})
	f.slack.FailNext(1, fakeapi.Fault{Status: http.StatusServiceUnavailable, RetryAfter: upstreamHold})
	// The Discord fake sends no Retry-After with a 503; Discord asks for
	// a pause with a 429 and retry_after.
	f.discord.FailNext(1, fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: upstreamHold})
	r := startReceiver(t, bin, f)
	for i := range crashIncidents {
		r.mustPost(t, "critical", message(crashName(i), "firing"))
	}
	pending := awaitQuiet(t, filepath.Join(r.dir, "data", "receiver.db"))
	if err := r.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.Exited()
	before := []int{len(f.pd.Received()), len(f.og.Received()), len(f.slack.Received()), len(f.discord.Received())}
	t.Logf("killed with %d deliveries pending; delivered before the kill (PagerDuty, Opsgenie, Slack, Discord): %v", pending, before)
	if pending < crashIncidents {
		t.Errorf("only %d deliveries were pending at the kill, want most of %d", pending, 4*crashIncidents)
	}

	r.start(t)
	testenv.Eventually(t, deliveryTimeout, func() error {
		got := []int{
			distinct(f.pd.Received(), func(e pagerdutytest.Event) string { return e.DedupKey }),
			distinct(f.og.Received(), func(a opsgenietest.Alert) string { return a.Alias }),
			// A message may be a digest of several incidents.
			distinctAll(f.slack.Received(), func(m slacktest.Request) []string { return crashRE.FindAllString(string(m.Body), -1) }),
			distinctAll(f.discord.Received(), func(m discordtest.Received) []string { return crashRE.FindAllString(string(m.Raw), -1) }),
		}
		want := []int{crashIncidents, crashIncidents, crashIncidents, crashIncidents}
		if !slices.Equal(got, want) {
			return fmt.Errorf("distinct incidents at PagerDuty, Opsgenie, Slack, Discord: %v, want %v", got, want)
		}
		return nil
	})
}

func crashName(i int) string { return fmt.Sprintf("Crash%02d", i) }

var crashRE = regexp.MustCompile(`Crash\d\d`)

// distinctAll counts the distinct keys of items, each of which may have
// several.
func distinctAll[T any](items []T, keys func(T) []string) int {
	seen := map[string]bool{}
	for _, it := range items {
		for _, k := range keys(it) {
			seen[k] = true
		}
	}
	return len(seen)
}

// distinct counts the distinct non-empty keys of items.
func distinct[T any](items []T, key func(T) string) int {
	seen := map[string]bool{}
	for _, it := range items {
		if k := key(it); k != "" {
			seen[k] = true
		}
	}
	return len(seen)
}

// awaitQuiet waits until the outbox has pending deliveries, none of them
// leased by a worker and none due within a second, so that a kill cuts no
// attempt short, and returns how many are pending. A delivery leased at
// the kill would wait for its lease (2 minutes) before the restarted
// receiver retries it, which this test does not wait for.
func awaitQuiet(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pending int
	testenv.Eventually(t, upstreamHold, func() error {
		now := time.Now()
		var leased, due int
		err := db.QueryRowContext(t.Context(), `SELECT count(*), coalesce(sum(lease_until > ?), 0), coalesce(sum(next_attempt_at <= ?), 0)
			FROM outbox WHERE state = 'pending'`, now.UnixNano(), now.Add(time.Second).UnixNano()).Scan(&pending, &leased, &due)
		switch {
		case err != nil:
			return err
		case pending == 0 || leased > 0 || due > 0:
			return fmt.Errorf("%d deliveries pending, %d leased, %d due within a second", pending, leased, due)
		}
		return nil
	})
	return pending
}

// testDeadLetters has Slack refuse a message for good: the delivery is a
// dead letter that dead-letters lists; dead-letters retry queues it again
// and the running receiver delivers it.
func testDeadLetters(t *testing.T, bin string) {
	f := newFakes(t)
	f.slack.FailNext(1, fakeapi.Fault{Status: http.StatusBadRequest, Body: "invalid_blocks"})
	r := startReceiver(t, bin, f)
	r.mustPost(t, "chat", message("DiskFull", "firing"))
	testenv.Eventually(t, deliveryTimeout, func() error {
		return r.metric(t.Context(), `klaxon_receiver_dead_letters{channel="slack"} 1`)
	})

	stdout, stderr, code := r.run(t, "dead-letters")
	if code != 0 || stderr != "" {
		t.Fatalf("dead-letters: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("dead-letters listed %d lines, want a header and one dead letter:\n%s", len(lines), stdout)
	}
	if diff := cmp.Diff([]string{"ID", "CHANNEL", "ROUTE", "KIND", "ACCEPTED", "ATTEMPTS", "LAST", "ERROR"}, strings.Fields(lines[0])); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	row := strings.Fields(lines[1])
	if len(row) < 7 || !slices.Equal([]string{"slack", "chat", "trigger"}, row[1:4]) || row[5] != "1" || !strings.Contains(lines[1], "invalid_blocks") {
		t.Errorf("dead letter row %q, want slack, chat, trigger, 1 attempt and Slack's reason", lines[1])
	}

	stdout, stderr, code = r.run(t, "dead-letters", "retry", row[0])
	if code != 0 || stdout != "1 dead letters queued for delivery again\n" || stderr != "" {
		t.Errorf("dead-letters retry %s: exit %d, stdout %q, stderr %q", row[0], code, stdout, stderr)
	}
	testenv.Eventually(t, deliveryTimeout, func() error {
		if n := len(f.slack.Received()); n != 1 {
			return fmt.Errorf("%d Slack messages, want the retried one", n)
		}
		return nil
	})
	if !strings.Contains(string(f.slack.Received()[0].Body), "DiskFull") {
		t.Errorf("Slack got %s, want the DiskFull message", f.slack.Received()[0].Body)
	}
	if stdout, _, code := r.run(t, "dead-letters", "list"); code != 0 || stdout != "no dead letters\n" {
		t.Errorf("dead-letters list after the retry: exit %d, %q", code, stdout)
	}
	assertNoSecrets(t, r.Output(), f.secrets())
}

// metric fails unless /metrics has the line want.
func (r *instance) metric(ctx context.Context, want string) error {
	code, body, err := httpDo(ctx, http.MethodGet, r.url("/metrics"), nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK || !slices.Contains(strings.Split(body, "\n"), want) {
		return fmt.Errorf("/metrics (%d) has no line %q", code, want)
	}
	return nil
}

// testSendTest sends a test message through Slack without a running
// receiver, and names the channels when the one asked for is not there.
func testSendTest(t *testing.T, bin string) {
	f := newFakes(t)
	dir := t.TempDir()
	r := &instance{bin: bin, dir: dir, config: writeConfig(t, dir, "127.0.0.1:9", f, "")}
	stdout, stderr, code := r.run(t, "send-test", "--channel", "slack")
	if code != 0 || stdout != "test message delivered to channel \"slack\" (slack)\n" {
		t.Errorf("send-test --channel slack: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	msgs := f.slack.Received()
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), "test message from `klaxon-receiver send-test`") {
		t.Errorf("Slack got %d messages, want one test message: %v", len(msgs), msgs)
	}
	if n := len(f.pd.Received()) + len(f.og.Received()) + len(f.discord.Received()); n != 0 {
		t.Errorf("%d messages went to other channels", n)
	}
	stdout, stderr, code = r.run(t, "send-test", "--channel", "sms")
	want := "klaxon-receiver: no channel \"sms\" in the config (channels: [discord opsgenie pagerduty slack])\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("send-test --channel sms: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}
	// A refused test message says why, without the webhook's token.
	f.slack.FailNext(1, fakeapi.Fault{Status: http.StatusForbidden, Body: "invalid_token"})
	_, stderr, code = r.run(t, "send-test", "--channel", "slack")
	want = `klaxon-receiver: channel "slack" (slack): upstream refused: 403 Forbidden (authError, a delivery would not be retried): ` +
		"posting to slack: upstream answered 403 Forbidden: invalid_token\n"
	if code != 4 || stderr != want {
		t.Errorf("send-test refused: exit %d, stderr %q; want exit 4 and %q", code, stderr, want)
	}
	assertNoSecrets(t, stderr, f.secrets())
	// An upstream that is down is told apart from one that refuses.
	f.discord.Close()
	_, downErr, code := r.run(t, "send-test", "--channel", "discord")
	u, err := url.Parse(f.discordURL)
	if err != nil {
		t.Fatal(err)
	}
	want = `klaxon-receiver: channel "discord" (discord): could not reach ` + u.Host + " (network): "
	if code != 3 || !strings.HasPrefix(downErr, want) || !strings.Contains(downErr, "connection refused") {
		t.Errorf("send-test to a closed port: exit %d, stderr %q; want exit 3 and %q... connection refused", code, downErr, want)
	}
	assertNoSecrets(t, downErr, f.secrets())
}

// testReload reloads a broken config (500, the old one stays in force)
// and, on SIGHUP, a config with a new route.
func testReload(t *testing.T, bin string) {
	f := newFakes(t)
	r := startReceiver(t, bin, f)
	good, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.config, string(good)+"  - name: broken\n    channels: [sms]\n")
	code, body, err := httpDo(t.Context(), http.MethodPost, r.url("/-/reload"), nil)
	line := strings.Count(string(good), "\n") + 1
	wantErr := fmt.Sprintf(`%s:%d: route "broken" names channel "sms", which is not defined (channels: discord, opsgenie, pagerduty, slack)`, r.config, line)
	if err != nil || code != http.StatusInternalServerError || !strings.Contains(body, wantErr) {
		t.Errorf("POST /-/reload with a broken config: %d %q %v, want 500 and %q", code, body, err, wantErr)
	}
	if err := r.metric(t.Context(), "klaxon_receiver_config_last_reload_successful 0"); err != nil {
		t.Error(err)
	}
	if code, body := r.post(t, "chat", encode(t, message("StillServing", "firing"))); code != http.StatusOK {
		t.Errorf("the old config after a failed reload: %d %s, want 200", code, body)
	}
	if code, _ := r.post(t, "team-db", encode(t, message("NewRoute", "firing"))); code != http.StatusNotFound {
		t.Errorf("route team-db before it is configured: %d, want 404", code)
	}

	writeConfig(t, r.dir, r.addr, f, "  - name: team-db\n    channels: [slack]\n")
	if err := r.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, startTimeout, func() error {
		code, body, err := httpDo(t.Context(), http.MethodPost, r.url("/webhook/team-db"), encode(t, message("NewRoute", "firing")))
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("POST /webhook/team-db: %d %s %v", code, body, err)
		}
		return nil
	})
	if err := r.metric(t.Context(), "klaxon_receiver_config_last_reload_successful 1"); err != nil {
		t.Error(err)
	}
}

// testCheckConfig runs check-config on good and bad files and compares
// its output, stdout for a good file and stderr for a bad one, with a
// golden file.
func testCheckConfig(t *testing.T, bin string) {
	for _, name := range builtInSecrets {
		t.Setenv(name, "") // the built-in config has no channels
	}
	for _, tc := range []struct {
		file string
		code int
	}{
		{"", 0},
		{"testdata/good.yml", 0},
		{"testdata/bad-unknown-key.yml", 1},
		{"testdata/bad-slack.yml", 1},
		{"testdata/bad-template.yml", 1},
		{"testdata/bad-secret-file.yml", 1},
		{"testdata/missing.yml", 1},
	} {
		name := strings.TrimSuffix(filepath.Base(tc.file), ".yml")
		if tc.file == "" {
			name = "built-in"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"check-config"}
			if tc.file != "" {
				args = append(args, "--config.file="+tc.file)
			}
			stdout, stderr, code := runCommand(t, bin, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			got, quiet := stdout, stderr
			if tc.code != 0 {
				got, quiet = stderr, stdout
			}
			if quiet != "" {
				t.Errorf("unexpected output on the other stream: %q", quiet)
			}
			testkit.Golden(t, filepath.Join("testdata", "check-config-"+name+".golden"), got)
		})
	}
}

func assertNoSecrets(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("secret %q leaked:\n%s", s, text)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testPortTaken: a receiver that cannot listen stops its delivery workers
// before it closes its store, and exits with the reason instead of hanging.
func testPortTaken(t *testing.T, bin string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "receiver.yml")
	writeFile(t, config, "storage:\n  path: "+filepath.Join(dir, "data", "klaxon.db")+"\nroutes:\n  - name: critical\n")
	_, stderr, code := runCommand(t, bin, "--config.file="+config, "--web.listen-address="+l.Addr().String())
	if code != 1 || !strings.Contains(stderr, "server stopped") || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and the listen error", code, stderr)
	}
}
