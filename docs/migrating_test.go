package docs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

// How long the receiver and Alertmanager may take to start, and an alert
// to reach the fake Slack, on a loaded machine.
const (
	startTimeout = time.Minute
	pageTimeout  = time.Minute
)

// The example alert, as the doc names it.
const exampleAlert = "CheckoutPaymentsFailing"

// runbookSections are the sections every runbook has, in order
// (rules/rules_test.go holds Klaxon's own runbooks to the same).
var runbookSections = []string{"Symptoms", "Immediate actions", "Investigation", "Resolution", "Prevention"}

// TestMigratingExamples runs the examples of docs/migrating.md on the
// files the doc shows: the rule file with its promtool test and runbook,
// and an alert raised by hand through the real Alertmanager that the
// built receiver pages to a fake Slack.
func TestMigratingExamples(t *testing.T) {
	root := testenv.RepoRoot(t)
	d, err := readDoc(filepath.Join(root, "docs", "migrating.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples := filepath.Join(root, "docs", "examples")
	checkShown(t, d, examples)
	t.Run("rule", func(t *testing.T) { testRule(t, examples) })
	t.Run("runbook", func(t *testing.T) { testRunbook(t, examples) })
	t.Run("page", func(t *testing.T) { testPage(t, d, examples) })
}

// checkShown checks that every block of the doc whose info string names
// a file of examples/ is that file, byte for byte, and that every file
// there is shown.
func checkShown(t *testing.T, d *doc, examples string) {
	t.Helper()
	shown := map[string]bool{}
	for _, b := range d.blocks {
		fields := strings.Fields(b.info)
		if len(fields) < 2 || !strings.HasPrefix(fields[1], "examples/") {
			continue
		}
		name := strings.TrimPrefix(fields[1], "examples/")
		shown[name] = true
		want, err := os.ReadFile(filepath.Join(examples, name))
		if err != nil {
			t.Errorf("docs/migrating.md:%d: shows %s: %v", b.line, fields[1], err)
			continue
		}
		if b.content != string(want) {
			t.Errorf("docs/migrating.md:%d: the block differs from docs/%s; copy the file into the doc", b.line, fields[1])
		}
	}
	entries, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !shown[e.Name()] {
			t.Errorf("docs/examples/%s is not shown in docs/migrating.md", e.Name())
		}
	}
}

// testRule runs promtool on the example rule file and its test, and
// shows that the test fails when the threshold is wrong.
func testRule(t *testing.T, examples string) {
	promtool := testenv.Program(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "checkout.rules.yml"}, {"test", "rules", "checkout.test.yml"}} {
		if out, err := run(examples, promtool, args...); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// A copy whose threshold is above the test's 20% must fail the test.
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(examples, "checkout.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.Replace(string(rules), ">= 0.1", ">= 0.3", 1)
	if wrong == string(rules) {
		t.Fatal("checkout.rules.yml: no threshold >= 0.1 to change")
	}
	writeFile(t, filepath.Join(dir, "checkout.rules.yml"), wrong)
	test, err := os.ReadFile(filepath.Join(examples, "checkout.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "checkout.test.yml"), string(test))
	out, err := run(dir, promtool, "test", "rules", "checkout.test.yml")
	if err == nil || !strings.Contains(out, exampleAlert) {
		t.Errorf("promtool test rules passed with the threshold at 30%% (err %v):\n%s", err, out)
	}
}

// testRunbook checks the example runbook as Klaxon's own are checked:
// named after the alert, titled with it, with the five sections in
// order, and linked by the alert's runbook_url.
func testRunbook(t *testing.T, examples string) {
	name := strings.ToLower(exampleAlert) + ".md"
	d, err := readDoc(filepath.Join(examples, name))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(examples, name))
	if err != nil {
		t.Fatal(err)
	}
	if title, _, _ := strings.Cut(string(src), "\n"); title != "# "+exampleAlert {
		t.Errorf("%s: title %q, want %q", name, title, "# "+exampleAlert)
	}
	var sections []string
	for _, l := range strings.Split(string(src), "\n") {
		if s, ok := strings.CutPrefix(l, "## "); ok {
			sections = append(sections, s)
		}
	}
	if !slices.Equal(sections, runbookSections) {
		t.Errorf("%s: sections %q, want %q", name, sections, runbookSections)
	}
	if !slices.ContainsFunc(d.blocks, func(b block) bool { return b.info == "promql" }) {
		t.Errorf("%s: no PromQL query", name)
	}
	rules, err := os.ReadFile(filepath.Join(examples, "checkout.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), "runbook_url: https://") || !strings.Contains(string(rules), "/"+name+"\n") {
		t.Errorf("checkout.rules.yml: the alert's runbook_url does not name %s", name)
	}
}

// testPage runs the doc's first example: the built receiver with the
// example config and its Slack webhook in the environment, the real Alertmanager
// with the deployed config, the doc's amtool line, and an
// acknowledgement with the doc's command.
func testPage(t *testing.T, d *doc, examples string) {
	amtool := testenv.Program(t, "amtool")
	testenv.Program(t, "prometheus-alertmanager")
	line := docCommand(t, d, "amtool alert add")
	bin := testenv.Binary(t, "klaxon-receiver")

	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join(examples, "klaxon-receiver.yml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "klaxon-receiver.yml"), string(conf))
	checkUnsetVariable(t, d, dir, bin)
	// The doc's export: the receiver reads the URL from its environment.
	t.Setenv(slackVariable, fake.NewWebhook())
	addr := testenv.FreeAddr(t)
	url := "http://" + addr
	p := testenv.StartProcess(t, dir, bin, "--config.file=klaxon-receiver.yml", "--web.listen-address="+addr)
	p.WaitReady(t, url+"/-/ready", startTimeout)
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerOptions{WebhookBase: url, TimeScale: 1.0 / 60})

	args := slices.Clone(line[1:])
	for i, a := range args {
		if strings.HasPrefix(a, "--alertmanager.url=") {
			args[i] = "--alertmanager.url=" + am.URL
		}
	}
	// Who is on call, asked before and after the page, in case a handoff
	// falls in between.
	before := onCallSlackID(t, url)
	if out, err := run("", amtool, args...); err != nil {
		t.Fatalf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	msg := awaitSlack(t, fake, func(r slacktest.Request) bool {
		return strings.Contains(slackText(r), "[FIRING:1] "+exampleAlert+" checkout (critical)")
	})
	after := onCallSlackID(t, url)
	if !slices.Contains(msg.Mentions, "<@"+before+">") && !slices.Contains(msg.Mentions, "<@"+after+">") {
		t.Errorf("the page mentions %q, want the on-call <@%s>", msg.Mentions, after)
	}
	if text := slackText(msg); !strings.Contains(text, "checkoutpaymentsfailing.md") || !strings.Contains(text, "10% or more of the payments fail") {
		t.Errorf("the page lacks the runbook link or the summary:\n%s", text)
	}

	t.Logf("the page:\n%s", slackText(msg))
	id := openIncident(t, url)
	if out, err := run("", bin, "ack", id, "--by", "alice", "--receiver.url="+url); err != nil {
		t.Fatalf("klaxon-receiver ack: %v\n%s", err, out)
	}
	awaitSlack(t, fake, func(r slacktest.Request) bool {
		return strings.Contains(slackText(r), "acknowledged by alice")
	})
}

// slackVariable is the environment variable the example config names.
const slackVariable = "SLACK_WEBHOOK_URL"

// checkUnsetVariable runs check-config on the example config in dir
// without slackVariable, and checks that the error is the file:line one
// the doc quotes.
func checkUnsetVariable(t *testing.T, d *doc, dir, bin string) {
	t.Helper()
	t.Setenv(slackVariable, "") // restored when the test ends
	if err := os.Unsetenv(slackVariable); err != nil {
		t.Fatal(err)
	}
	out, err := run(dir, bin, "--config.file=klaxon-receiver.yml", "check-config")
	want := "klaxon-receiver: klaxon-receiver.yml:9: webhook_url_env: environment variable " + slackVariable + " is not set\n"
	if err == nil || out != want {
		t.Errorf("check-config without %s: %v, output %q; want an error and %q", slackVariable, err, out, want)
	}
	quoted := slices.ContainsFunc(d.code, func(l codeLine) bool { return !l.fenced && l.text+"\n" == want })
	if !quoted {
		t.Errorf("docs/migrating.md does not quote the error %q", want)
	}
}

// docCommand returns the words of the first command line of the doc that
// starts with prefix.
func docCommand(t *testing.T, d *doc, prefix string) []string {
	t.Helper()
	for _, l := range commandLines(d.code) {
		var words []string
		for _, tok := range l.tokens {
			words = append(words, tok.text)
		}
		if strings.HasPrefix(strings.Join(words, " "), prefix) {
			return words
		}
	}
	t.Fatalf("docs/migrating.md has no command line starting with %q", prefix)
	return nil
}

// onCallSlackID asks the receiver who is on call for the example's only
// schedule, and returns their Slack ID.
func onCallSlackID(t *testing.T, url string) string {
	t.Helper()
	var status struct {
		Schedules []receiverconfig.ScheduleStatus `json:"schedules"`
	}
	getJSON(t, url+"/api/v1/oncall", &status)
	if len(status.Schedules) != 1 || status.Schedules[0].OnCall == nil {
		t.Fatalf("on call: %+v, want someone for the one schedule", status)
	}
	return status.Schedules[0].OnCall.ChatIDs["slack"]
}

// openIncident returns the ID of the receiver's only open incident.
func openIncident(t *testing.T, url string) string {
	t.Helper()
	var list struct {
		Incidents []incident.Summary `json:"incidents"`
	}
	getJSON(t, url+"/api/v1/incidents", &list)
	if len(list.Incidents) != 1 {
		t.Fatalf("open incidents: %+v, want one", list.Incidents)
	}
	return list.Incidents[0].ID
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// awaitSlack waits for a message to the fake Slack for which match holds.
func awaitSlack(t *testing.T, fake *slacktest.Server, match func(slacktest.Request) bool) slacktest.Request {
	t.Helper()
	var found slacktest.Request
	testenv.Eventually(t, pageTimeout, func() error {
		got := fake.Received()
		for _, r := range got {
			if match(r) {
				found = r
				return nil
			}
		}
		texts := make([]string, len(got))
		for i, r := range got {
			texts[i] = slackText(r)
		}
		return fmt.Errorf("no such Slack message yet; %d received: %q", len(got), texts)
	})
	return found
}

// slackText is the text of a Slack message and its attachments.
func slackText(r slacktest.Request) string {
	parts := []string{r.Message.Text}
	for _, a := range r.Message.Attachments {
		parts = append(parts, a.Title, a.TitleLink, a.Text)
	}
	return strings.Join(parts, "\n")
}

// run runs a program in dir and returns its output, stdout and stderr
// together.
func run(dir, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
